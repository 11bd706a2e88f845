// Top-level <status> stanzas: the bridge acks them, so the server never ends the stream for an
// unacked one; with the acks switched off (WA_BRIDGE_ACK_STATUS=0) the login is dropped the way
// rc14 users see it, 500 "Stream Errored (ack)".
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { assertOk, linkByQr, loginByQr, memoryStore, startBridge, startEmulator, waitFor } from '../test-support/harness.mjs'

const INTERVAL_MS = 50
const ACK_TIMEOUT_MS = 250
let emulator

before(async () => {
  emulator = await startEmulator(['--status-interval-ms', String(INTERVAL_MS), '--status-ack-timeout-ms', String(ACK_TIMEOUT_MS)])
})
after(() => emulator?.stop())

const deviceOf = async phone => (await emulator.state()).devices.find(d => d.phone === phone)

test('a login receiving statuses stays connected past many ack deadlines', async () => {
  const bridge = await startBridge({ emulator, store: memoryStore() })
  const phone = await loginByQr(bridge, emulator, 'statuses')
  // 8 deadlines' worth of statuses, each acked in time.
  const acked = 8 * (ACK_TIMEOUT_MS / INTERVAL_MS)
  await waitFor(async () => (await deviceOf(phone)).statuses.acked >= acked, 20 * ACK_TIMEOUT_MS, `${acked} acked statuses`)
  const device = await deviceOf(phone)
  assert.equal(device.statuses.streamsEnded, 0)
  assert.ok(device.statuses.unacked <= 1, 'at most the one in flight')
  assert.equal(device.liveSockets, 1)
  assert.equal(bridge.messages.filter(m => m.type === 'closed' && m.session === 'statuses').length, 1, 'only the 515')
  assert.equal(assertOk(await bridge.command('ping')).value.openSessions, 1)
  assert.equal(await bridge.stop(), 0)
})

test('acks switched off (WA_BRIDGE_ACK_STATUS=0): closed 500 bad_session "Stream Errored (ack)"', async () => {
  const bridge = await startBridge({ emulator, store: memoryStore(), env: { WA_BRIDGE_ACK_STATUS: '0' } })
  const session = 'unacked'
  assertOk(await bridge.command('open', { session, pairingPhone: null }))
  const { phone } = await linkByQr(bridge, emulator, await bridge.event('qr', session))
  assert.equal((await bridge.event('closed', session)).code, 515)
  assertOk(await bridge.command('open', { session, pairingPhone: null }))
  // Statuses start at login; the first one left unacked ends the stream, opened or not yet.
  const closed = await bridge.event('closed', session, 10_000)
  assert.deepEqual(
    { code: closed.code, reason: closed.reason, message: closed.message },
    { code: 500, reason: 'bad_session', message: 'Stream Errored (ack)' }
  )
  const device = await deviceOf(phone)
  assert.equal(device.statuses.streamsEnded, 1)
  assert.ok(device.statuses.unacked >= 1, 'kept for the next login')
  assert.equal(await bridge.stop(), 0)
})
