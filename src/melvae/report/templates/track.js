// The long track: a playhead over its picture follows the player; a click seeks there.
(function () {
  var player = document.getElementById("track-player");
  var box = document.getElementById("track-figure");
  if (!player || !box) return;
  var head = box.querySelector(".playhead");
  var img = box.querySelector("img");
  var seconds = parseFloat(box.getAttribute("data-seconds"));
  function span() {  // the time axis, as fractions of the picture's width
    var narrow = (img.currentSrc || "").indexOf("track_narrow") >= 0;
    var p = narrow ? "data-nx" : "data-x";
    return [parseFloat(box.getAttribute(p + "0")), parseFloat(box.getAttribute(p + "1"))];
  }
  function place() {
    var s = span(), f = Math.min(1, Math.max(0, player.currentTime / seconds));
    head.style.left = (100 * (s[0] + f * (s[1] - s[0]))) + "%";
    head.style.display = player.currentTime > 0 ? "block" : "none";
  }
  player.addEventListener("timeupdate", place);
  player.addEventListener("seeked", place);
  box.addEventListener("click", function (event) {
    var rect = box.getBoundingClientRect(), s = span();
    var f = ((event.clientX - rect.left) / rect.width - s[0]) / (s[1] - s[0]);
    if (f < 0 || f > 1) return;
    player.currentTime = f * seconds;
    var started = player.play();
    if (started && started.catch) started.catch(function () {});
  });
})();
