// The CPU reference of the inventory part: the least a Node process can do for a polling board. It accepts the
// connection, reads the request head, answers `304 Not Modified` and closes; no parsing, no catalog, no registry,
// no log. Started like the CLI (`node bench/lib/bare304.cjs`), it prints `listening on HOST:PORT` on stdout.
'use strict';
const net = require('node:net');

const ANSWER = 'HTTP/1.0 304 Not Modified\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';
const server = net.createServer((socket) => {
  let head = '';
  socket.on('data', (chunk) => {
    head += chunk.toString('latin1');
    if (head.includes('\r\n\r\n')) socket.end(ANSWER);
  });
  socket.on('error', () => socket.destroy());
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening on 127.0.0.1:${server.address().port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
