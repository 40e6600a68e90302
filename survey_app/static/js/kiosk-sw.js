/* The kiosk's service worker, served as /kiosk/sw.js (scope /kiosk/).
 *
 * It keeps the kiosk page and its assets in a cache so that the kiosk starts and runs with the
 * network down. Network first (so an update arrives as soon as the tablet is online), the cache
 * when the network fails. The API is never cached: responses are queued by kiosk.js in
 * IndexedDB, and configuration comes from the heartbeat.
 */
"use strict";

const CACHE = "survey-kiosk-v1";
const SHELL = [
  "/kiosk/",
  "/static/js/kiosk.js",
  "/static/kiosk/kiosk.css",
  "/static/favicon.svg",
  "/static/kiosk/faces/very_sad.svg",
  "/static/kiosk/faces/sad.svg",
  "/static/kiosk/faces/neutral.svg",
  "/static/kiosk/faces/happy.svg",
  "/static/kiosk/faces/very_happy.svg",
  "/kiosk/manifest.webmanifest",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim())
  );
});

// kiosk.js asks this when its page loaded uncontrolled (see registerServiceWorker there).
self.addEventListener("message", (event) => {
  if (event.data === "claim") event.waitUntil(self.clients.claim());
});

function cacheable(url) {
  return url.origin === self.location.origin && SHELL.includes(url.pathname);
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (!cacheable(url)) return; // the API, enrolment links, staff pages: straight to the network
  event.respondWith(
    fetch(request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(url.pathname, copy));
        }
        return response;
      })
      .catch(() =>
        caches.match(url.pathname).then((cached) => cached || Response.error())
      )
  );
});
