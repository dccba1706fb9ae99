// Starts Redoc on /api/v1/docs with the schema named by this script's data-spec-url.
(function () {
  "use strict";
  var script = document.currentScript;

  // Redoc's sidebar shows Redocly's logo from their CDN (cdn.redoc.ly) and has no option to leave
  // it out. The page policy refuses it (img-src 'self' data:), Redoc then hides it, but the browser
  // still reports the refusal. So this page asks for no image of another origin at all: an image
  // src elsewhere becomes "", which fails at once without a request (React sets it both ways).
  function elsewhere(url) {
    try {
      var parsed = new URL(String(url), document.baseURI);
      return /^https?:$/.test(parsed.protocol) && parsed.origin !== window.location.origin;
    } catch (e) {
      return false;
    }
  }
  var setAttribute = Element.prototype.setAttribute;
  HTMLImageElement.prototype.setAttribute = function (name, value) {
    return setAttribute.call(this, name, String(name).toLowerCase() === "src" && elsewhere(value) ? "" : value);
  };
  var src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    configurable: true, enumerable: src.enumerable, get: src.get,
    set: function (value) { src.set.call(this, elsewhere(value) ? "" : value); }
  });

  // Redoc puts this page's CSP nonce on the <style> elements its styled-components write, so the
  // policy needs no 'unsafe-inline' for them. (script.nonce: the attribute itself reads empty once
  // the page has loaded, as browsers hide nonces from the DOM.)
  Redoc.init(script.dataset.specUrl, { nonce: script.nonce }, document.getElementById("redoc-container"));
})();
