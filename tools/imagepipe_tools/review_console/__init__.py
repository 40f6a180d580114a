"""The review console: a static page (index.html, console.js, console.css) and, for the
embedded stack, a small HTTP server that serves it and hands its API calls to the review
function as Function URL requests signed by a local staff identity."""
