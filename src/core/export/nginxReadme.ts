// README.txt of an nginx export: how to deploy it, and what nginx does not do that our server does.

export interface ReadmeFacts {
  dir: string;
  port: number;
  serverName: string;
  images: number;
  folders: number;
  generatedBy: string;
}

export function exportReadme(facts: ReadmeFacts): string {
  const { dir, port } = facts;
  return `AutoConnect update catalog for nginx
====================================

${facts.generatedBy}
${facts.images} application image(s) in ${facts.folders} folder(s); devices use port ${port}.

What is here
------------
  nginx.conf    a whole nginx configuration:   nginx -p ${dir} -c nginx.conf
  server.conf   the server {} block (and the maps it needs) to include in the http {} block of an nginx you
                already run:   include ${dir}/server.conf;
  current/      this export: the images under their catalog names (current/images/), the catalog answers
                precomputed per folder and per asking chip family (current/catalog/), server.conf, manifest.json
  .export-N/    this and the previous exports; current points at one of them. A re-export builds the next one
                beside them and switches current in one rename, so nginx never sees half an export. The
                previous ones stay until a few more exports have been made: an nginx that has not reloaded yet
                keeps serving the export it loaded, never a mix.
  run/          nginx.conf's pid file, error log and temporary folders; an export never touches it.

The paths inside server.conf are absolute (${dir}/...): deploy the folder to the same path on the host.

Run it
------
  nginx -t -p ${dir} -c nginx.conf && nginx -p ${dir} -c nginx.conf
After every re-export (autoconnect-update-server export --nginx ..., or a server started with --export-nginx):
  nginx -t -p ${dir} -c nginx.conf && nginx -p ${dir} -c nginx.conf -s reload
With server.conf included in your own nginx:   nginx -t && nginx -s reload

Started as root, nginx serves through its unprivileged worker user (nobody, or www-data with Debian's own
configuration): every exported file is world-readable, and every folder above ${dir} must be searchable by it.

Deploy to another machine
-------------------------
  rsync -aH --delete --exclude /run/ ${dir}/ host:${dir}/
  ssh host 'nginx -t && nginx -s reload'
-H keeps the hard links between exports (an image that did not change is stored once). Copying with cp -a or
tar works the same way.

What nginx does not do that autoconnect-update-server does
-----------------------------------------------------------
  * Free-space and flash-size checks before a byte is sent. The device makes them itself: it refuses an image
    larger than its free space ("Not Enough space") and, on ESP8266, one built for a larger flash ("New Binary
    Does Not Fit Flash Size").
  * Request targets without a leading slash (GET ./fw.bin, GET bin/fw.bin), which AutoConnect before 1.3.5 sends
    (and later versions with a relative uri): nginx answers them 400. Such devices must keep using
    autoconnect-update-server.
  * A percent-encoded download path (GET /%61.bin): nginx decodes it and may serve the image, our server does not.
  * The log of which device took which image, and the live view of downloads in VS Code.
Everything else answers as our server does: the same catalog bytes for each folder and chip family, x-MD5 and
x-SHA256 on every image, 304 for the image a device already runs (including its flash-mode variants), 403 for an
image of the other chip family, for another ESP32 chip and for a filesystem update, 404 for everything not in
the catalog. The catalog and the images are never compressed, never chunked and never sent as ranges.

A CDN or cache in front
-----------------------
The answers depend on request headers, not only on the URL:
  * /_catalog depends on the User-Agent family (ESP8266HTTPClient, ESP32HTTPClient, anything else);
  * an image depends on the User-Agent family and on x-ESP8266-sketch-md5 / x-ESP32-sketch-md5 /
    x-ESP32-sketch-sha256 (304 or 200), and on x-*-mode.
Either put those into the cache key, or do not cache /_catalog and leave the 304 decision to the origin (cache
only 200 answers of images, keyed by URL and User-Agent family). Every answer carries Cache-Control: no-store,
as from autoconnect-update-server: a cache that should keep images must be told to ignore it for them.
A CDN must not compress, chunk or redirect: the device reads Content-Length and x-MD5, and follows no redirect.
`;
}
