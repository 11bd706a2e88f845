// Linking with a pairing code typed on the phone instead of a QR scan.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { connect, memoryAuth, startEmulator } from './helpers.mjs'

const PHONE = '79991234567'
let emulator

before(async () => {
  emulator = await startEmulator()
})
after(() => emulator?.stop())

test('pairing code: wrong code refused, right code pairs, 515, reconnect opens', async () => {
  assert.equal((await emulator.call('POST', '/pairing-code', { code: 'ABCD1234' })).status, 404, 'nobody waits for a code')

  const auth = memoryAuth()
  const pairing = connect(emulator, auth)
  await pairing.next('connection.update', u => !!u.qr, 5_000, 'the socket to be up (first QR)')
  const code = await pairing.sock.requestPairingCode(PHONE)
  assert.match(code, /^[A-Z0-9]{8}$/)

  let pending
  for (let i = 0; i < 50 && !pending?.pairingCodeRequested; i++) {
    pending = (await emulator.call('GET', '/state')).body.pending[0]
    if (!pending?.pairingCodeRequested) await new Promise(resolve => setTimeout(resolve, 20))
  }
  assert.equal(pending.pairingCodeRequested, true)
  assert.equal(pending.phone, PHONE)

  const wrong = await emulator.call('POST', '/pairing-code', { code: code === 'AAAAAAAA' ? 'BBBBBBBB' : 'AAAAAAAA', phone: PHONE })
  assert.equal(wrong.status, 404, JSON.stringify(wrong.body))

  const right = await emulator.call('POST', '/pairing-code', { code })
  assert.equal(right.status, 200, JSON.stringify(right.body))
  assert.equal(right.body.phone, PHONE)
  assert.equal(right.body.jid, `${PHONE}:1@s.whatsapp.net`)

  await pairing.next('connection.update', u => u.isNewLogin === true, 5_000, 'isNewLogin')
  assert.equal((await pairing.closed()).statusCode, 515)

  const session = connect(emulator, auth)
  await session.next('connection.update', u => u.connection === 'open', 15_000, 'open')
  assert.equal(auth.creds.me.id, right.body.jid)
  const state = (await emulator.call('GET', '/state')).body
  assert.deepEqual(state.maxLiveSocketsPerLogin, { [PHONE]: 1 })
  session.sock.end(undefined)
})
