// The WhatsApp Web version after a 405: read from the URL once for refusals that come together,
// used for later sockets, and reported as refreshed only when it is newer than the refused one.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:http'
import { after, before, test } from 'node:test'
import { createWaVersion, parseWaVersion } from '../src/wa-version.mjs'

const RC14 = [2, 3000, 1043857760]
const quiet = { warn() {} }
let server
let url
let reads = 0
let body = ''

before(async () => {
  server = createServer((req, res) => {
    reads += 1
    res.end(body)
  }).listen(0, '127.0.0.1')
  await once(server, 'listening')
  url = `http://127.0.0.1:${server.address().port}/sw.js`
})
after(() => server.close())

test('parses a.b.c only', () => {
  assert.deepEqual(parseWaVersion('2.3000.1043857760'), RC14)
  for (const bad of ['2.3000', '2.3000.x', ' 2.3000.1', '']) assert.equal(parseWaVersion(bad), null, bad)
})

test('refusals that come together share one read; the newer version is used from then on', async () => {
  reads = 0
  body = 'self.x=JSON.parse("{\\"client_revision\\":1050000001}")'
  const version = createWaVersion({ initial: RC14, url, logger: quiet })
  assert.deepEqual(await Promise.all([1, 2, 3].map(() => version.refreshAfterRefusal(RC14))), [true, true, true])
  assert.equal(reads, 1)
  assert.deepEqual(version.current(), [2, 3000, 1050000001])
  // Refused again with the new version: nothing newer, and no second read within the minute.
  assert.equal(await version.refreshAfterRefusal([2, 3000, 1050000001]), false)
  assert.equal(reads, 1)
})

test('no URL, an unreadable answer or nothing newer: not refreshed, the version stays', async () => {
  assert.equal(await createWaVersion({ initial: RC14, url: undefined, logger: quiet }).refreshAfterRefusal(RC14), false)
  for (const answer of ['no revision here', '"client_revision":1043857760']) {
    body = answer
    const version = createWaVersion({ initial: RC14, url, logger: quiet })
    assert.equal(await version.refreshAfterRefusal(RC14), false, answer)
    assert.deepEqual(version.current(), RC14)
  }
})
