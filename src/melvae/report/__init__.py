"""The HTML report: what goes on the page, collected through the API and the evaluation
(``build``), the page itself (``html`` with its package files in ``templates/``), and the one
number formatter shared with the evaluation table (``present``).

Imports everything below it, up to ``melvae.evaluation``; never training code."""
