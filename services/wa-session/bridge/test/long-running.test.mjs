// A login held for the equivalent of more than a day of today's server: a status every 20 ms, each
// to be acked within 100 ms (the real server ends the stream about 50 minutes after an unacked one),
// for 5 s, i.e. 50 ack deadlines. Nothing may disconnect it.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { assertOk, loginByQr, memoryStore, startBridge, startEmulator } from '../test-support/harness.mjs'

const INTERVAL_MS = 20
const ACK_TIMEOUT_MS = 100
const HOLD_MS = 5_000
const EVENTS = new Set(['qr', 'pairing_code', 'paired', 'open', 'closed'])
let emulator

before(async () => {
  emulator = await startEmulator(['--status-interval-ms', String(INTERVAL_MS), '--status-ack-timeout-ms', String(ACK_TIMEOUT_MS)])
})
after(() => emulator?.stop())

test('a login held through 50 compressed ack deadlines sees no disconnect', async () => {
  const bridge = await startBridge({ emulator, store: memoryStore() })
  const session = 'long-running'
  const phone = await loginByQr(bridge, emulator, session)
  const unexpected = bridge.next(m => m.session === session && EVENTS.has(m.type), HOLD_MS, 'nothing')
  await assert.rejects(unexpected, /timed out/, 'no event for the session while it is held')

  const { devices, maxLiveSocketsPerLogin } = await emulator.state()
  const { statuses, liveSockets } = devices.find(d => d.phone === phone)
  assert.ok(statuses.acked >= HOLD_MS / INTERVAL_MS / 2, `${statuses.acked} statuses acked`)
  assert.equal(statuses.streamsEnded, 0)
  assert.ok(statuses.unacked <= 1, 'at most the one in flight')
  assert.equal(liveSockets, 1)
  assert.equal(maxLiveSocketsPerLogin[phone], 1)
  assert.equal(assertOk(await bridge.command('ping')).value.openSessions, 1)
  assert.equal(await bridge.stop(), 0)
})
