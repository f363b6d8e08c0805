// The nginx configuration of an export: `server.conf` (a server block to include anywhere) and `nginx.conf` (a whole
// configuration that runs with `nginx -p DIR -c nginx.conf`). Generated from the export's model alone, so every
// request nginx can answer with a file is one of the exact locations written here: traversal is impossible by
// construction. The checks repeat, in the same order, those our server makes (routes/, devices/updatePolicy.ts)
// wherever nginx can make them.

import type { Audience } from '../catalog/listing';
import {
  BACKSLASH_PATTERN,
  CONTROL_PATTERN,
  PARENT_PATTERN,
  encodedValuePattern,
  folderPathPattern,
} from './queryPatterns';

export interface ExportedImage {
  /** Catalog-relative path, posix separators (also the URL path below `/`). */
  relPath: string;
  /** Absolute path of the exported copy. */
  file: string;
  size: number;
  md5: string;
  sha256: string;
  family: 'esp8266' | 'esp32';
  chip?: string;
  /** gzip image: ESP32 devices cannot take it. */
  compressed: boolean;
  /** ESP32: the appended SHA-256 a device running it reports as x-ESP32-sketch-sha256. */
  appendedSha256?: string;
  /** Every MD5 a device running this image may report (file MD5 first). */
  runningMd5s: readonly string[];
}

export interface ExportedFolder {
  rel: string;
  /** File name stem of its precomputed answers: `<catalogDir>/<audience>/<id>.json`. */
  id: string;
}

export interface NginxModel {
  port: number;
  serverName: string;
  answerNotModified: boolean;
  images: readonly ExportedImage[];
  folders: readonly ExportedFolder[];
  /** Absolute folder of the precomputed catalog answers. */
  catalogDir: string;
  /** Catalog paths that are not served (folders, non-images, left-out names): 403, as from our server. */
  refused: readonly string[];
}

export const AUDIENCES: readonly Audience[] = ['esp8266', 'esp32', 'any'];

/** A double-quoted nginx string: the parser turns `\\` into `\` and `\"` into `"`. */
export function quote(text: string): string {
  return `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

const ESP8266_REQUIRED = ['sta_mac', 'ap_mac', 'free_space', 'sketch_size', 'sketch_md5', 'chip_size', 'sdk_version'];
const ESP32_REQUIRED = ['sta_mac', 'ap_mac', 'free_space', 'sketch_size', 'chip_size', 'sdk_version'];

/** The `server {}` block and the maps it needs (maps live at http level, which is where an include of it goes). */
export function serverConf(model: NginxModel, generatedBy: string): string {
  const out: string[] = [];
  const line = (text = '') => out.push(text);
  line(`# ${generatedBy}`);
  line('# Include this file in the http {} block of an nginx configuration. Re-exports replace it: do not edit.');
  line();
  line('# Who is asking: the update clients (readDeviceRequest in our server), with the headers they must send.');
  line('map $http_user_agent $acus_agent {');
  line('    default "";');
  line('    "~^ESP8266-http-Update" esp8266;');
  line('    "~^ESP32-http-Update" esp32;');
  line('}');
  const presence = (variable: string, name: string) => {
    line(`map ${variable} ${name} { "" 0; default 1; }`);
  };
  for (const header of ESP8266_REQUIRED) presence(`$http_x_esp8266_${header}`, `$acus_8_${header}`);
  for (const header of ESP32_REQUIRED) presence(`$http_x_esp32_${header}`, `$acus_32_${header}`);
  // ESP32 cores before 2.0 send no sketch-md5, only sketch-sha256: either will do.
  presence('"$http_x_esp32_sketch_md5$http_x_esp32_sketch_sha256"', '$acus_32_sketch_id');
  line('map $http_x_esp8266_mode $acus_8_mode { "" 1; sketch 1; default 0; }');
  line('map $http_x_esp32_mode $acus_32_mode { "" 1; sketch 1; default 0; }');
  const h8 = ESP8266_REQUIRED.map((h) => `$acus_8_${h}`).join('');
  const h32 = [...ESP32_REQUIRED.map((h) => `$acus_32_${h}`), '$acus_32_sketch_id'].join('');
  line('# esp8266 / esp32: an update client with every required header; "" otherwise (403, as from our server).');
  line(`map "$acus_agent ${h8} ${h32}" $acus_client {`);
  line('    default "";');
  line(`    "~^esp8266 1{${ESP8266_REQUIRED.length}} " esp8266;`);
  line(`    "~^esp32 [01]+ 1{${ESP32_REQUIRED.length + 1}}$" esp32;`);
  line('}');
  line('# A filesystem update (x-*-mode: spiffs) never gets an application image.');
  line('map "$acus_agent $acus_8_mode $acus_32_mode" $acus_sketch_mode {');
  line('    default 0;');
  line('    "~^esp8266 1 " 1;');
  line('    "~^esp32 [01] 1$" 1;');
  line('}');
  line();

  // What an ESP32 runs, when it is an image of this catalog: an image for another chip is refused. Regular
  // expressions, not hashed keys: a hash of a thousand 32- or 64-character keys needs map_hash_* settings at http
  // level, which an included file cannot set without clashing with the including configuration.
  const ids = new Map<string, string>();
  for (const image of model.images) {
    if (image.family !== 'esp32') continue;
    const chip = image.chip ?? image.family;
    if (image.appendedSha256) ids.set(`~*^${image.appendedSha256}:`, chip);
  }
  for (const image of model.images) {
    if (image.family === 'esp32') ids.set(`~*:${image.md5}$`, image.chip ?? image.family);
  }
  line('# The chip an ESP32 runs, when it runs an image of this catalog (by its sketch SHA-256, else its MD5).');
  line('map "$http_x_esp32_sketch_sha256:$http_x_esp32_sketch_md5" $acus_running_chip {');
  line('    default "";');
  for (const [pattern, chip] of ids) line(`    ${quote(pattern)} ${chip};`);
  line('}');
  line();

  if (model.answerNotModified) {
    line('# 304 when the device already runs the image it asks for (one map per image: its running MD5s / SHA-256).');
    model.images.forEach((image, index) => {
      if (image.family === 'esp32' && image.appendedSha256) {
        line(`map "$http_x_esp32_sketch_sha256:$http_x_esp32_sketch_md5" $acus_runs_${index} {`);
        line('    default 0;');
        line(`    "~*^${image.appendedSha256}:" 1;`);
        line('    "~^[0-9a-fA-F]{64}:" 0;');
        line(`    "~*:${image.md5}$" 1;`);
        line('}');
      } else {
        const header = image.family === 'esp8266' ? '$http_x_esp8266_sketch_md5' : '$http_x_esp32_sketch_md5';
        line(`map ${header} $acus_runs_${index} {`);
        line('    default 0;');
        for (const md5 of image.runningMd5s) line(`    ${md5} 1;`);
        line('}');
      }
    });
    line();
  }

  line('# /_catalog: which precomputed answer (by op, path and the asking family), or which refusal.');
  line('map $args $acus_op {');
  line('    default "";');
  line('    "~(?:^|&)op=([^&]*)" $1;');
  line('}');
  line('map $args $acus_path {');
  line('    default "";');
  line('    "~(?:^|&)path=([^&]*)" $1;');
  line('}');
  line(`map $acus_op $acus_op_list { default 0; ${quote(`~${encodedValuePattern('list')}`)} 1; }`);
  line('map $acus_path $acus_folder {');
  line('    default 404;');
  line(`    ${quote(`~${BACKSLASH_PATTERN}`)} 403;`);
  line(`    ${quote(`~${CONTROL_PATTERN}`)} 400;`);
  line(`    ${quote(`~${PARENT_PATTERN}`)} 403;`);
  for (const folder of model.folders) {
    // nginx never tries a regular expression on an empty value: `path=` (the root, as for our server) is a key.
    if (folder.rel === '') line(`    "" ${folder.id};`);
    line(`    ${quote(`~${folderPathPattern(folder.rel)}`)} ${folder.id};`);
  }
  line('}');
  line('map $http_user_agent $acus_audience {');
  line('    default any;');
  line('    "~^ESP8266HTTPClient" esp8266;');
  line('    "~^ESP32HTTPClient" esp32;');
  line('}');
  line();

  line('server {');
  line(`    listen ${model.port};`);
  line(`    server_name ${model.serverName};`);
  line('    # Devices read Content-Length: never compress, never chunk, never a range.');
  line('    gzip off;');
  line('    chunked_transfer_encoding off;');
  line('    max_ranges 0;');
  line('    etag off;');
  line('    if_modified_since off;');
  line('    server_tokens off;');
  line('    sendfile on;');
  line();
  line('    location = /_catalog {');
  line('        if ($acus_op_list = 0) { return 403; }');
  line('        if ($acus_folder = 403) { return 403; }');
  line('        if ($acus_folder = 400) { return 400; }');
  line('        if ($acus_folder = 404) { return 404; }');
  line('        types { }');
  line('        default_type application/json;');
  line('        add_header Cache-Control no-store;');
  line(`        alias ${quote(`${model.catalogDir}/$acus_audience/$acus_folder.json`)};`);
  line('    }');
  line();
  model.images.forEach((image, index) => {
    const name = image.relPath.slice(image.relPath.lastIndexOf('/') + 1);
    line(`    location = ${quote(`/${image.relPath}`)} {`);
    line(`        if ($acus_client != ${image.family}) { return 403; }`);
    line('        if ($acus_sketch_mode = 0) { return 403; }');
    if (image.family === 'esp32' && image.compressed) line('        return 403;');
    if (image.family === 'esp32' && image.chip) {
      line(`        if ($acus_running_chip !~ ${quote(`^(?:${image.chip})?$`)}) { return 403; }`);
    }
    if (model.answerNotModified) line(`        if ($acus_runs_${index}) { return 304; }`);
    line('        types { }');
    line('        default_type application/octet-stream;');
    line(`        add_header Content-Disposition ${quote(`attachment; filename=${name}`)};`);
    line(`        add_header x-MD5 ${image.md5};`);
    line(`        add_header x-SHA256 ${image.sha256};`);
    line('        add_header Cache-Control no-store;');
    line(`        alias ${quote(image.file)};`);
    line('    }');
  });
  if (model.refused.length > 0) {
    line();
    line('    # In the catalog but not an image a device may download (folders, other files, left-out names).');
    for (const path of model.refused) line(`    location = ${quote(path)} { return 403; }`);
  }
  line();
  line('    # Everything else: not in the catalog (403 first for what is not an update client, as from our server).');
  line('    location / {');
  line('        if ($acus_client = "") { return 403; }');
  line('        return 404;');
  line('    }');
  line('}');
  return `${out.join('\n')}\n`;
}

/** A whole configuration for `nginx -p DIR -c nginx.conf`: every path is below DIR/run, which exports never touch. */
export function nginxConf(generatedBy: string): string {
  return `# ${generatedBy}
# Runs as is:  nginx -p DIR -c nginx.conf        (test:  nginx -t -p DIR -c nginx.conf;  reload:  nginx -p DIR -s reload)
# Paths are relative to DIR (the -p prefix). The pid file, logs and temporary folders live in DIR/run, which a
# re-export never removes, so a running nginx reloads across exports. Re-exports replace this file: do not edit.

worker_processes auto;
pid run/nginx.pid;
error_log run/error.log warn;

events {
    worker_connections 1024;
}

http {
    access_log off;        # or: access_log run/access.log;
    client_body_temp_path run/client_body;
    proxy_temp_path run/proxy;
    fastcgi_temp_path run/fastcgi;
    uwsgi_temp_path run/uwsgi;
    scgi_temp_path run/scgi;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 15s;
    server_tokens off;
    types { }
    default_type application/octet-stream;

    include server.conf;
}
`;
}
