// The whole QR lifecycle with the real Baileys, on the server as it was in 2025: QR rotation,
// scan, 515, login, logout (401).
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { connect, memoryAuth, SERVER_2025, startEmulator } from './helpers.mjs'

const QR_MS = 1000
let emulator

before(async () => {
  emulator = await startEmulator(['--refs', '6', '--qr-timeout-ms', String(QR_MS), ...SERVER_2025])
})
after(() => emulator?.stop())

test('QR rotates, the phone scans, 515, reconnect opens, phone logout gives 401', async () => {
  const auth = memoryAuth()
  const pairing = connect(emulator, auth, { qrTimeout: QR_MS })
  await pairing.next('connection.update', u => u.connection === 'connecting', 5_000, 'connecting')

  const qrs = []
  for (let i = 0; i < 3; i++) qrs.push((await pairing.next('connection.update', u => !!u.qr, 5_000, `QR #${i + 1}`)).qr)
  assert.equal(new Set(qrs).size, 3, 'each rotation shows a new QR')

  const state = (await emulator.call('GET', '/state')).body
  assert.equal(state.pending.length, 1)
  assert.equal(state.pending[0].refs.length, 6)
  const onScreen = (await emulator.call('GET', '/qr')).body
  assert.equal(onScreen.length, 1)
  assert.ok(qrs[2].includes(`#${onScreen[0].ref},`), 'the emulator knows which ref is on screen')

  const stale = await emulator.call('POST', '/scan', { qr: qrs[0] })
  assert.equal(stale.status, 404, 'a rotated-out QR is refused')
  const unknown = await emulator.call('POST', '/scan', { qr: qrs[2].replace('#2@', '#2@x') })
  assert.equal(unknown.status, 404, 'an unknown QR is refused')

  const scan = await emulator.call('POST', '/scan', { qr: qrs[2] })
  assert.equal(scan.status, 200, JSON.stringify(scan.body))
  assert.match(scan.body.phone, /^7999000\d{4}$/)
  assert.equal(scan.body.jid, `${scan.body.phone}:1@s.whatsapp.net`)

  await pairing.next('creds.update', c => c.me?.id === scan.body.jid, 5_000, 'creds.update with me')
  await pairing.next('connection.update', u => u.isNewLogin === true, 5_000, 'isNewLogin')
  assert.deepEqual(await pairing.closed(), { statusCode: 515, message: 'Stream Errored (restart required)' })
  assert.equal(auth.creds.me.id, scan.body.jid)

  const session = connect(emulator, auth)
  await session.next('connection.update', u => u.connection === 'open', 15_000, 'open')
  await session.next('connection.update', u => u.receivedPendingNotifications === true, 5_000, 'pending notifications')

  const open = (await emulator.call('GET', '/state')).body
  assert.deepEqual(open.pending, [])
  assert.deepEqual(
    open.devices.map(({ jid, phone, loggedIn, liveSockets }) => ({ jid, phone, loggedIn, liveSockets })),
    [{ jid: scan.body.jid, phone: scan.body.phone, loggedIn: true, liveSockets: 1 }]
  )
  assert.deepEqual(open.maxLiveSocketsPerLogin, { [scan.body.phone]: 1 }, 'never two sockets for one login')

  const logout = await emulator.call('POST', '/logout', { phone: scan.body.phone })
  assert.equal(logout.status, 200)
  assert.equal((await session.closed()).statusCode, 401)

  const again = connect(emulator, auth)
  assert.deepEqual(await again.closed(), { statusCode: 401, message: 'Connection Failure' }, 'logged-out creds are refused')
  const after = (await emulator.call('GET', '/state')).body
  assert.equal(after.devices[0].loggedIn, false)
  assert.deepEqual(after.maxLiveSocketsPerLogin, { [scan.body.phone]: 1 })
})
