// A passkey prompt and a pairing-code primary_hello without primary_identity_pub each end only
// their own session, with their own reason; the bridge and its other sessions carry on. With the
// handling switched off the session just waits until its QRs run out.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { assertOk, linkByQr, loginByQr, memoryStore, startBridge, startEmulator, waitFor } from '../test-support/harness.mjs'

const QR_MS = 1000
const PHONE = '79991230002'
let emulator

before(async () => {
  emulator = await startEmulator(['--refs', '2', '--qr-timeout-ms', String(QR_MS)])
})
after(() => emulator?.stop())

const closedFields = ({ code, reason, message }) => ({ code, reason, message })

/** With the passkey prompt on: open, scan (again after the refresh); the scan that would link gets 403. */
const openToPasskeyPrompt = async (bridge, session) => {
  assertOk(await bridge.command('open', { session, pairingPhone: null }))
  await assert.rejects(linkByQr(bridge, emulator, await bridge.event('qr', session)), /passkey required/)
}

/** With the primary_hello without identity on: open with a pairing code and type it on the phone (409). */
const openToMalformedHello = async (bridge, session) => {
  assertOk(await bridge.command('open', { session, pairingPhone: PHONE }))
  const { code } = await bridge.event('pairing_code', session)
  await waitFor(async () => (await emulator.state()).pending.some(p => p.phone === PHONE), 5_000, 'the code request')
  const typed = await emulator.call('POST', '/pairing-code', { code, phone: PHONE })
  assert.equal(typed.status, 409, JSON.stringify(typed.body))
}

const withBehaviour = async (patch, work) => {
  assert.equal((await emulator.call('POST', '/behaviours', patch)).status, 200)
  try {
    return await work()
  } finally {
    await emulator.call('POST', '/behaviours', Object.fromEntries(Object.keys(patch).map(name => [name, false])))
  }
}

test('passkey_prologue_request and a malformed primary_hello end only their sessions', async () => {
  const bridge = await startBridge({ emulator, store: memoryStore(), qrTimeoutMs: QR_MS })
  const phone = await loginByQr(bridge, emulator, 'bystander')

  await withBehaviour({ passkeyPrompt: true }, () => openToPasskeyPrompt(bridge, 'passkey'))
  assert.deepEqual(closedFields(await bridge.event('closed', 'passkey')), {
    code: null,
    reason: 'passkey_required',
    message: 'WhatsApp asks to confirm this device with a passkey (passkey_prologue_request)'
  })
  const prompt = (await emulator.state()).notifications.find(n => n.type === 'passkey_prologue_request')
  assert.equal(prompt.acks, 1, 'acked before the socket was ended')

  await withBehaviour({ linkCodeWithoutIdentity: true }, () => openToMalformedHello(bridge, 'bad-code'))
  assert.deepEqual(closedFields(await bridge.event('closed', 'bad-code')), {
    code: null,
    reason: 'pairing_code_failed',
    message: 'link_code_companion_reg without primary_identity_pub'
  })

  const ping = assertOk(await bridge.command('ping')).value
  assert.deepEqual({ sessions: ping.sessions, openSessions: ping.openSessions }, { sessions: 1, openSessions: 1 })
  const { devices } = await emulator.state()
  assert.equal(devices.find(d => d.phone === phone).liveSockets, 1, 'the other session stayed connected')
  assert.equal(bridge.messages.filter(m => m.type === 'closed' && m.session === 'bystander').length, 1, 'only its 515')
  assert.equal(await bridge.stop(), 0)
})

test('handling switched off (WA_BRIDGE_HANDLE_PASSKEY=0, WA_BRIDGE_GUARD_LINK_CODE=0): both wait until the QRs run out', async () => {
  const bridge = await startBridge({
    emulator,
    store: memoryStore(),
    qrTimeoutMs: QR_MS,
    env: { WA_BRIDGE_HANDLE_PASSKEY: '0', WA_BRIDGE_GUARD_LINK_CODE: '0' }
  })
  await withBehaviour({ passkeyPrompt: true }, () => openToPasskeyPrompt(bridge, 'passkey'))
  await withBehaviour({ linkCodeWithoutIdentity: true }, () => openToMalformedHello(bridge, 'bad-code'))
  for (const session of ['passkey', 'bad-code']) {
    const closed = await bridge.find(m => m.type === 'closed' && m.session === session, 2 * QR_MS + 5_000, `closed of ${session}`)
    assert.deepEqual({ code: closed.code, reason: closed.reason }, { code: 408, reason: 'qr_expired' }, session)
  }
  assert.equal(assertOk(await bridge.command('ping')).value.sessions, 0, 'rc14 did not crash the bridge either')
  assert.equal(await bridge.stop(), 0)
})
