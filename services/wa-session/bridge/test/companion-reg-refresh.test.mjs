// companion_reg_refresh on today's server: the bridge rotates the adv secret, acks, and shows the
// QR again (`refresh: true`); without that handling the phone never links. In the pairing-code
// flow the secret is left alone.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { assertOk, memoryStore, startBridge, startEmulator, waitFor } from '../test-support/harness.mjs'

const QR_MS = 1500
const FAST_QR_MS = 400
let emulator
let fastEmulator

before(async () => {
  emulator = await startEmulator(['--refs', '4', '--qr-timeout-ms', String(QR_MS)])
  fastEmulator = await startEmulator(['--refs', '3', '--qr-timeout-ms', String(FAST_QR_MS)])
})
after(async () => {
  await emulator?.stop()
  await fastEmulator?.stop()
})

const advSecretOf = qr => qr.split(',')[3]
const refreshesTo = async (emu, socketId) =>
  (await emu.state()).notifications.filter(n => n.type === 'companion_reg_refresh' && n.socketId === socketId)

test('handling switched off (WA_BRIDGE_HANDLE_REG_REFRESH=0): every scan fails, no QR is refreshed, closed qr_expired', async () => {
  const bridge = await startBridge({
    emulator: fastEmulator,
    store: memoryStore(),
    qrTimeoutMs: FAST_QR_MS,
    env: { WA_BRIDGE_HANDLE_REG_REFRESH: '0' }
  })
  const session = 'no-refresh'
  assertOk(await bridge.command('open', { session, pairingPhone: null }))
  const answers = []
  for (let i = 1; i <= 3; i++) {
    const { qr } = await bridge.event('qr', session, FAST_QR_MS + 5_000)
    answers.push((await fastEmulator.call('POST', '/scan', { qr })).status)
  }
  const closed = await bridge.event('closed', session, FAST_QR_MS + 5_000)
  assert.deepEqual({ code: closed.code, reason: closed.reason }, { code: 408, reason: 'qr_expired' })
  assert.deepEqual(answers, [409, 409, 409], '"Couldn\'t link device" every time')
  const qrs = bridge.messages.filter(m => m.type === 'qr')
  assert.deepEqual(qrs.map(m => m.index), [1, 2, 3])
  assert.ok(qrs.every(m => !m.refresh))
  assert.equal(new Set(qrs.map(m => advSecretOf(m.qr))).size, 1, 'every QR carries the retired secret')
  assert.equal(bridge.messages.filter(m => m.type === 'paired').length, 0)
  assert.equal(await bridge.stop(), 0)
})

test('QRs after a refresh carry the new secret too; two refreshes in a row still link', async () => {
  const store = memoryStore()
  const bridge = await startBridge({ emulator, store, qrTimeoutMs: QR_MS })
  const session = 'refreshed-twice'
  assertOk(await bridge.command('open', { session, pairingPhone: null }))
  const first = await bridge.event('qr', session)
  assert.equal((await emulator.call('POST', '/scan', { qr: first.qr })).status, 409)
  const again = await bridge.event('qr', session)
  assert.deepEqual({ index: again.index, refresh: again.refresh }, { index: 1, refresh: true })

  const next = await bridge.event('qr', session, QR_MS + 5_000)
  assert.equal(next.index, 2)
  assert.equal(next.refresh, undefined, 'a new QR of the batch, not a refresh')
  assert.equal(advSecretOf(next.qr), advSecretOf(again.qr), 'Baileys built it with the old secret; the bridge rewrote it')

  // A second refresh on the same QR: the secret rotates again.
  const [{ socketId }] = (await emulator.call('POST', '/companion-reg-refresh', {})).body
  const twice = await bridge.event('qr', session)
  assert.deepEqual({ index: twice.index, refresh: twice.refresh }, { index: 2, refresh: true })
  assert.notEqual(advSecretOf(twice.qr), advSecretOf(next.qr))
  const scan = await emulator.call('POST', '/scan', { qr: twice.qr })
  assert.equal(scan.status, 200, JSON.stringify(scan.body))
  assert.equal((await bridge.event('paired', session)).phone, scan.body.phone)
  assert.equal((await bridge.event('closed', session)).code, 515)
  assert.equal(store.creds(session).advSecretKey, advSecretOf(twice.qr))
  assert.deepEqual((await refreshesTo(emulator, socketId)).map(n => n.acks), [1, 1], 'each refresh acked once')

  assertOk(await bridge.command('open', { session, pairingPhone: null }))
  await bridge.event('open', session, 15_000)
  assert.equal(await bridge.stop(), 0)
})

test('pairing-code flow: a refresh leaves the adv secret alone (no refreshed QR) and the code links', async () => {
  const phone = '79991230001'
  const store = memoryStore()
  const bridge = await startBridge({ emulator, store, qrTimeoutMs: QR_MS })
  const session = 'by-code'
  assertOk(await bridge.command('open', { session, pairingPhone: phone }))
  const { code } = await bridge.event('pairing_code', session)
  await waitFor(async () => (await emulator.state()).pending.some(p => p.phone === phone), 5_000, 'the code request')
  const secretBefore = await waitFor(() => store.creds(session)?.me && store.creds(session).advSecretKey, 5_000, 'the creds of the code request')

  const [{ socketId }] = (await emulator.call('POST', '/companion-reg-refresh', {})).body
  // Baileys acks it itself here (creds.me is set by the code request), after its own handling.
  await waitFor(async () => (await refreshesTo(emulator, socketId))[0]?.acks === 1, 5_000, 'the ack')
  assert.equal(bridge.messages.some(m => m.type === 'qr' && m.refresh), false, 'no QR was refreshed')
  assert.equal(store.creds(session).advSecretKey, secretBefore, 'the adv secret was not rotated')

  assert.equal((await emulator.call('POST', '/pairing-code', { code, phone })).status, 200)
  assert.equal((await bridge.event('paired', session)).phone, phone)
  assert.equal((await bridge.event('closed', session)).code, 515)
  assert.deepEqual((await refreshesTo(emulator, socketId)).map(n => n.acks), [1], 'acked once, not twice')
  assert.equal(await bridge.stop(), 0)
})
