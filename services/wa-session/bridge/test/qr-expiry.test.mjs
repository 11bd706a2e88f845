// An unscanned login: every ref shown once, then closed 408 qr_expired (not "connection lost").
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { assertOk, memoryStore, startBridge, startEmulator } from '../test-support/harness.mjs'

const QR_MS = 400
let emulator

before(async () => {
  emulator = await startEmulator(['--refs', '3', '--qr-timeout-ms', String(QR_MS)])
})
after(() => emulator?.stop())

test('QR refs run out: three QRs, then closed 408 qr_expired', async () => {
  const bridge = await startBridge({ emulator, store: memoryStore(), qrTimeoutMs: QR_MS })
  assertOk(await bridge.command('open', { session: 'expiring', pairingPhone: null }))
  const closed = await bridge.event('closed', 'expiring', 3 * QR_MS + 5_000)
  assert.deepEqual(
    { code: closed.code, reason: closed.reason, message: closed.message },
    { code: 408, reason: 'qr_expired', message: 'QR refs attempts ended' }
  )
  const qrs = bridge.messages.filter(m => m.type === 'qr')
  assert.deepEqual(qrs.map(m => m.index), [1, 2, 3])
  assert.ok(qrs.every(m => m.ttlMs === QR_MS))
  assert.equal(assertOk(await bridge.command('ping')).value.sessions, 0, 'nothing is reopened by the bridge')
  assert.equal(await bridge.stop(), 0)
})
