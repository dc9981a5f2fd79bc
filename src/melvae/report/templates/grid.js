// The latent grid: a click on a cell plays its pre-rendered clip in the one player.
(function () {
  var player = document.getElementById("grid-player");
  var now = document.getElementById("grid-now");
  var cells = document.querySelectorAll(".cell");
  function play(cell) {
    for (var k = 0; k < cells.length; k++) cells[k].classList.remove("active");
    cell.classList.add("active");
    player.src = cell.getAttribute("data-clip");
    now.textContent = cell.getAttribute("aria-label");
    var started = player.play();
    if (started && started.catch) started.catch(function () {});
  }
  for (var k = 0; k < cells.length; k++) {
    cells[k].addEventListener("click", function (event) { play(event.currentTarget); });
  }
})();
