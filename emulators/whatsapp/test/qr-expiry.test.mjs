// When the refs of pair-device run out, Baileys gives up by itself with 408.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { connect, memoryAuth, startEmulator } from './helpers.mjs'

let emulator

before(async () => {
  emulator = await startEmulator(['--refs', '2'])
})
after(() => emulator?.stop())

test('refs run out: close 408 "QR refs attempts ended"', async () => {
  const client = connect(emulator, memoryAuth(), { qrTimeout: 700 })
  const close = await client.closed(10_000)
  assert.deepEqual(close, { statusCode: 408, message: 'QR refs attempts ended' })
  const qrs = client.events.filter(e => e.type === 'connection.update' && e.data.qr).map(e => e.data.qr)
  assert.equal(qrs.length, 2, 'one QR per ref')
  // the emulator forgets the socket once the client has gone
  for (let i = 0; i < 50 && (await emulator.call('GET', '/state')).body.pending.length; i++) {
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  assert.deepEqual((await emulator.call('GET', '/state')).body.pending, [])
  assert.equal((await emulator.call('POST', '/scan', { qr: qrs[1] })).status, 404, 'an expired QR cannot be scanned')
})
