// Today's server answers the first scan with companion_reg_refresh and retires the adv secret that
// QR carried; plain rc14 never links. A companion that rotates its secret and re-renders the QR does.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, test } from 'node:test'
import { buildAckStanza, S_WHATSAPP_NET } from 'baileys'
import { connect, memoryAuth, startEmulator } from './helpers.mjs'

const QR_MS = 400
let emulator

before(async () => {
  emulator = await startEmulator(['--refs', '6', '--qr-timeout-ms', String(QR_MS)])
})
after(() => emulator?.stop())

const nextQr = (client, what) => client.next('connection.update', u => !!u.qr, QR_MS + 5_000, what).then(u => u.qr)
const withAdvSecret = (qr, secret) => {
  const fields = qr.split(',')
  fields[3] = secret
  return fields.join(',')
}
const refreshes = async () => (await emulator.state()).notifications.filter(n => n.type === 'companion_reg_refresh')

test('plain rc14: the first scan is refused with a refresh, every later QR too; 6 QRs, 0 pairings, 408', async () => {
  const before = (await refreshes()).length
  const client = connect(emulator, memoryAuth(), { qrTimeout: QR_MS })
  const answers = []
  for (let i = 1; i <= 6; i++) {
    const qr = await nextQr(client, `QR #${i}`)
    answers.push(await emulator.call('POST', '/scan', { qr }))
  }
  assert.deepEqual(await client.closed(), { statusCode: 408, message: 'QR refs attempts ended' })
  assert.deepEqual(
    answers.map(a => a.status),
    [409, 409, 409, 409, 409, 409]
  )
  assert.match(answers[0].body.error, /Couldn't link device.*companion_reg_refresh/)
  assert.match(answers[1].body.error, /Couldn't link device.*retired/)
  assert.equal(client.events.filter(e => e.data.isNewLogin).length, 0, 'never paired')
  const sent = (await refreshes()).slice(before)
  assert.equal(sent.length, 1, 'one refresh, after the first scan')
  assert.equal(sent[0].acks, 0, "rc14's own ack throws before login (creds.me is unset)")
})

test('a companion that rotates its adv secret, acks and re-renders the current QR pairs', async () => {
  const auth = memoryAuth()
  const client = connect(emulator, auth, { qrTimeout: QR_MS })
  let shown = null
  client.sock.ev.on('connection.update', ({ qr }) => {
    if (qr) shown = qr
  })
  const rerendered = new Promise(resolve => {
    client.sock.ws.on('CB:notification,type:companion_reg_refresh', node => {
      auth.creds.advSecretKey = randomBytes(32).toString('base64')
      void client.sock.sendNode(buildAckStanza(node))
      resolve(withAdvSecret(shown, auth.creds.advSecretKey))
    })
  })
  const first = await nextQr(client, 'the first QR')
  assert.equal((await emulator.call('POST', '/scan', { qr: first })).status, 409)
  const qr = await rerendered
  assert.equal((await emulator.call('POST', '/scan', { qr: first })).status, 409, 'the retired secret stays refused')

  const scan = await emulator.call('POST', '/scan', { qr })
  assert.equal(scan.status, 200, JSON.stringify(scan.body))
  assert.deepEqual(await client.closed(), { statusCode: 515, message: 'Stream Errored (restart required)' })
  assert.equal(auth.creds.me.id, scan.body.jid)
  assert.equal((await refreshes()).at(-1).acks, 1, 'the ack was recorded once')
})

test('switched off at run time, the first scan links; switched on again, it is refused', async () => {
  const off = await emulator.call('POST', '/behaviours', { companionRegRefresh: false })
  assert.equal(off.status, 200)
  assert.equal(off.body.companionRegRefresh, false)
  try {
    const client = connect(emulator, memoryAuth(), { qrTimeout: QR_MS })
    const scan = await emulator.call('POST', '/scan', { qr: await nextQr(client, 'a QR') })
    assert.equal(scan.status, 200, JSON.stringify(scan.body))
    assert.equal((await client.closed()).statusCode, 515)
  } finally {
    assert.equal((await emulator.call('POST', '/behaviours', { companionRegRefresh: true })).body.companionRegRefresh, true)
  }
  const client = connect(emulator, memoryAuth(), { qrTimeout: QR_MS })
  assert.equal((await emulator.call('POST', '/scan', { qr: await nextQr(client, 'a QR') })).status, 409)
  client.sock.end(undefined)
  await client.closed()
})

test('on demand: a refresh to a waiting companion; 404 when none waits; bad behaviours are refused', async () => {
  assert.equal((await emulator.call('POST', '/companion-reg-refresh', {})).status, 404)
  const client = connect(emulator, memoryAuth(), { qrTimeout: QR_MS })
  const received = new Promise(resolve => client.sock.ws.on('CB:notification,type:companion_reg_refresh', resolve))
  await nextQr(client, 'a QR')
  const sent = await emulator.call('POST', '/companion-reg-refresh', {})
  assert.equal(sent.status, 200)
  const node = await received
  assert.equal(node.attrs.id, sent.body[0].id)
  assert.equal(node.attrs.from, S_WHATSAPP_NET)
  assert.equal(node.content[0].tag, 'companion_reg_refresh')
  client.sock.end(undefined)
  await client.closed()

  for (const body of [{ companionRegRefresh: 'yes' }, { noSuchThing: true }, { statusIntervalMs: 0 }, { minVersion: '2.3000' }]) {
    assert.equal((await emulator.call('POST', '/behaviours', body)).status, 400, JSON.stringify(body))
  }
  assert.equal((await emulator.call('GET', '/behaviours')).body.companionRegRefresh, true, 'nothing changed')
})
