// Login by pairing code: the code typed on the phone links the number the admin gave.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { assertOk, memoryStore, startBridge, startEmulator, waitFor } from '../test-support/harness.mjs'

const PHONE = '79991234567'
let emulator

before(async () => {
  emulator = await startEmulator()
})
after(() => emulator?.stop())

test('pairing code: code event, typed on the phone, paired, 515, open with that number', async () => {
  const store = memoryStore()
  const session = 'by-code'
  const bridge = await startBridge({ emulator, store })
  assertOk(await bridge.command('open', { session, pairingPhone: PHONE }))
  const firstQr = await bridge.event('qr', session)
  assert.deepEqual({ index: firstQr.index, ttlMs: firstQr.ttlMs }, { index: 1, ttlMs: 60_000 }, "Baileys' default QR life")
  const { code } = await bridge.event('pairing_code', session)
  assert.match(code, /^[A-Z0-9]{8}$/)

  // The code reaches the phone through the admin; the server must have seen the request first.
  await waitFor(
    async () => (await emulator.state()).pending.some(p => p.pairingCodeRequested && p.phone === PHONE),
    5_000,
    'the emulator to know of the code request'
  )
  const typed = await emulator.call('POST', '/pairing-code', { code, phone: PHONE })
  assert.equal(typed.status, 200, JSON.stringify(typed.body))

  assert.equal((await bridge.event('paired', session)).phone, PHONE)
  assert.equal((await bridge.event('closed', session)).reason, 'restart_required')
  assert.equal(bridge.messages.filter(m => m.type === 'pairing_code').length, 1, 'one code per socket')

  assertOk(await bridge.command('open', { session, pairingPhone: null }))
  const opened = await bridge.event('open', session, 15_000)
  assert.deepEqual({ phone: opened.phone, jid: opened.jid }, { phone: PHONE, jid: `${PHONE}:1@s.whatsapp.net` })
  assert.equal(await bridge.stop(), 0)
})
