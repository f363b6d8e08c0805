// The event-loop reference of the loop part's full-speed phase: the plainest Node server for the same downloads.
// node:http, the image read once into memory, its MD5 computed once, each request answered with one
// `res.end(bytes)`: no catalog, no containment proof, no device records, no log, no slicing of writes. Started like
// the CLI (`node bench/lib/bareHttp.cjs -d CATALOG …`), it serves CATALOG/fw.bin to every request and prints
// `listening on HOST:PORT` on stdout.
'use strict';
const http = require('node:http');
const { createHash } = require('node:crypto');
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

const dirFlag = process.argv.indexOf('-d');
const body = readFileSync(join(dirFlag > 0 ? process.argv[dirFlag + 1] : '.', 'fw.bin'));
const md5 = createHash('md5').update(body).digest('hex');
const server = http.createServer((req, res) => {
  res.writeHead(200, {
    'Content-Type': 'application/octet-stream',
    'Content-Length': body.length,
    'x-MD5': md5,
    Connection: 'close',
  });
  res.end(body);
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening on 127.0.0.1:${server.address().port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
