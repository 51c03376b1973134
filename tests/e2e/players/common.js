// What the tests read back: the <video>'s events and the player's errors.
// The manifest URL comes in the query string: ?src=<url-encoded URL>.
window.src = new URLSearchParams(location.search).get("src");
window.v = document.getElementById("v");
window.events = [];
window.errors = [];
for (const name of ["loadedmetadata", "canplay", "playing", "seeking", "seeked", "ended", "error"]) {
  v.addEventListener(name, () => window.events.push(name));
}
v.addEventListener("error", () => window.errors.push({ media: v.error && v.error.message }));
// Errors that fail a test: all but a player's non-fatal media events (hls.js reports e.g.
// bufferSeekOverHole, a jump over the few ms before a TS segment's first frame, as one).
// A network error counts even when the player retried and recovered, but for hls.js's
// "aborted" (ErrorDetails.INTERNAL_ABORTED: it cancelled its own load, e.g. on a seek).
window.serious = () =>
  window.errors.filter(
    (e) => e.fatal !== false || (/network/i.test(e.type || "") && e.player !== "aborted"),
  );
