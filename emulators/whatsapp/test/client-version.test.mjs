// A WhatsApp Web version below the minimum is refused with <failure reason="405">; the current one
// is served at GET /sw.js in the form Baileys' fetchLatestWaWebVersion reads from WhatsApp Web.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { fetchLatestWaWebVersion } from 'baileys'
import { connect, memoryAuth, startEmulator } from './helpers.mjs'

const CURRENT = '2.3000.1050000001'
const RC14 = [2, 3000, 1043857760]
let emulator

before(async () => {
  emulator = await startEmulator(['--min-version', CURRENT, '--current-version', CURRENT])
})
after(() => emulator?.stop())

/** Baileys reads https://web.whatsapp.com/sw.js; here that URL is answered by the emulator. */
const fromEmulator = async work => {
  const realFetch = globalThis.fetch
  globalThis.fetch = (url, options) =>
    realFetch(String(url) === 'https://web.whatsapp.com/sw.js' ? `${emulator.info.controlUrl}/sw.js` : url, options)
  try {
    return await work()
  } finally {
    globalThis.fetch = realFetch
  }
}

test("rc14's built-in version is refused with 405; the version read from /sw.js gets a QR", async () => {
  const stale = connect(emulator, memoryAuth(), { version: RC14 })
  assert.deepEqual(await stale.closed(), { statusCode: 405, message: 'Connection Failure' })

  const latest = await fromEmulator(() => fetchLatestWaWebVersion())
  assert.deepEqual(latest, { version: [2, 3000, 1050000001], isLatest: true })
  const fresh = connect(emulator, memoryAuth(), { version: latest.version })
  await fresh.next('connection.update', u => !!u.qr, 5_000, 'a QR')
  fresh.sock.end(undefined)
  await fresh.closed()
})

test('minVersion null (--min-version off) accepts any version; /sw.js is JavaScript', async () => {
  const behaviours = await emulator.call('POST', '/behaviours', { minVersion: null })
  assert.equal(behaviours.status, 200)
  assert.equal(behaviours.body.minVersion, null)
  try {
    const old = connect(emulator, memoryAuth(), { version: [2, 2400, 1] })
    await old.next('connection.update', u => !!u.qr, 5_000, 'a QR')
    old.sock.end(undefined)
    await old.closed()
  } finally {
    await emulator.call('POST', '/behaviours', { minVersion: CURRENT })
  }
  const sw = await fetch(`${emulator.info.controlUrl}/sw.js`)
  assert.equal(sw.headers.get('content-type'), 'text/javascript')
  assert.match(await sw.text(), /\\"client_revision\\":1050000001/)
})
