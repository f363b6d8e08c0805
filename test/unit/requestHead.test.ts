import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { findHeadEnd, isHeadError, parseHead, type RequestHead } from '../../src/core/http/requestHead';

function parse(text: string): RequestHead {
  const buffer = Buffer.from(text, 'latin1');
  const end = findHeadEnd(buffer);
  assert.equal(typeof end, 'number');
  assert.ok((end as number) > 0, 'head end found');
  const head = parseHead(buffer.subarray(0, end as number));
  if (isHeadError(head)) assert.fail(`unexpected error ${head.status} ${head.reason}`);
  return head;
}

function error(text: string) {
  const buffer = Buffer.from(text, 'latin1');
  const end = findHeadEnd(buffer);
  if (isHeadError(end)) return end;
  assert.ok(end > 0, 'complete head');
  const head = parseHead(buffer.subarray(0, end));
  assert.ok(isHeadError(head), 'expected an error');
  return head;
}

describe('request head parser', () => {
  it('accepts targets without a leading slash, as pre-1.3.5 AutoConnect and relative uri send them', () => {
    assert.equal(parse('GET ./fw.bin HTTP/1.0\r\nHost: x\r\n\r\n').target, './fw.bin');
    assert.equal(parse('GET bin/fw.bin HTTP/1.0\r\n\r\n').target, 'bin/fw.bin');
  });

  it('lower-cases header names and joins repeated headers', () => {
    const head = parse('GET / HTTP/1.1\r\nX-Esp8266-Sta-Mac: AA\r\nAccept: a\r\naccept: b\r\n\r\n');
    assert.equal(head.headers.get('x-esp8266-sta-mac'), 'AA');
    assert.equal(head.headers.get('accept'), 'a, b');
    assert.equal(head.version, '1.1');
  });

  it('tolerates bare LF line endings and leading empty lines', () => {
    const head = parse('\r\nGET /a HTTP/1.0\nHost: x\n\n');
    assert.equal(head.target, '/a');
    assert.equal(head.headers.get('host'), 'x');
  });

  it('notes a body only when one is announced', () => {
    assert.equal(parse('GET / HTTP/1.0\r\nContent-Length: 0\r\n\r\n').hasBody, false);
    assert.equal(parse('GET / HTTP/1.0\r\nContent-Length: 5\r\n\r\n').hasBody, true);
    assert.equal(parse('GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n').hasBody, true);
  });

  it('waits for more bytes until the blank line', () => {
    assert.equal(findHeadEnd(Buffer.from('GET / HTTP/1.0\r\nHost: x\r\n')), -1);
    assert.equal(findHeadEnd(Buffer.from('GET / HTTP/1.0\r\nHost: x\r\n\r')), -1);
  });

  it('rejects garbage with 400 and the reason', () => {
    assert.equal(error('\x16\x03\x01\x02\x00 hello\r\n\r\n').status, 400);
    assert.equal(error('GET /a b.bin HTTP/1.0\r\n\r\n').status, 400);
    assert.equal(error('GET /\r\n\r\n').status, 400);
    assert.equal(error('GET / HTTP/1.0\r\nno colon here\r\n\r\n').status, 400);
    assert.equal(error('GET / HTTP/1.0\r\nbad name: x\r\n\r\n').status, 400);
    assert.equal(error('GET / HTTP/1.0\r\nA: b\r\n folded\r\n\r\n').status, 400);
    assert.equal(error('GET / HTTP/1.0\r\nContent-Length: -1\r\n\r\n').status, 400);
    assert.equal(error('GET / HTTP/2.0\r\n\r\n').status, 505);
  });

  it('answers 400 to two Host headers and to Content-Length values that disagree (RFC 9112 §3.2, §6.3)', () => {
    assert.equal(error('GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n').status, 400);
    assert.equal(error('GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n').status, 400);
    assert.equal(error('GET / HTTP/1.1\r\nHost: a, b\r\n\r\n').status, 400);
    assert.equal(error('GET / HTTP/1.0\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n').status, 400);
    assert.equal(error('GET / HTTP/1.0\r\nContent-Length: 0, 7\r\n\r\n').status, 400);
    assert.match(error('GET / HTTP/1.0\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n').reason, /conflicting/);
  });

  it('takes a repeated identical Content-Length as that one value (RFC 9110 §8.6)', () => {
    const head = parse('GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n');
    assert.equal(head.headers.get('content-length'), '0');
    assert.equal(head.hasBody, false);
    assert.equal(parse('GET / HTTP/1.0\r\nContent-Length: 5, 05\r\n\r\n').hasBody, true);
  });

  it('answers 414 for a long request line and 431 for large headers, before the head is complete', () => {
    assert.equal(error(`GET /${'a'.repeat(9000)}`).status, 414);
    assert.equal(error(`GET / HTTP/1.0\r\n${'X-A: b\r\n'.repeat(3000)}`).status, 431);
    assert.equal(error(`GET / HTTP/1.0\r\n${'X-A: b\r\n'.repeat(101)}\r\n`).status, 431);
  });
});
