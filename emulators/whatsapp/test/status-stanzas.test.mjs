// Top-level <status> stanzas: a socket that does not ack them is ended with
// <stream:error><ack class="status"/></stream:error> (rc14: 500 "Stream Errored (ack)"), and what it
// left unacked comes again at the next login. Acking them keeps the connection up.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { connect, pairByQr, SERVER_2025, startEmulator, waitFor } from './helpers.mjs'

const INTERVAL_MS = 100
const ACK_TIMEOUT_MS = 300
let emulator
let login

before(async () => {
  // Pairs on the 2025 server, then switches statuses on with compressed timings.
  emulator = await startEmulator([...SERVER_2025, '--status-interval-ms', String(INTERVAL_MS), '--status-ack-timeout-ms', String(ACK_TIMEOUT_MS)])
  login = await pairByQr(emulator)
  assert.equal((await emulator.call('POST', '/behaviours', { statusStanzas: true })).status, 200)
})
after(() => emulator?.stop())

const statusesOf = async phone => (await emulator.state()).devices.find(d => d.phone === phone).statuses

/**
 * A socket with saved creds that records every <status> stanza it receives (and acks them when
 * asked to), from before the login: statuses left unacked earlier come right after <success>.
 */
const openWatching = async ({ ack }) => {
  const session = connect(emulator, login.auth)
  const seen = []
  session.sock.ws.on('CB:status', node => {
    seen.push(node)
    if (ack) {
      const { id, from, participant, type } = node.attrs
      void session.sock.sendNode({
        tag: 'ack',
        attrs: { id, to: from, class: 'status', participant, type, from: session.sock.authState.creds.me.id }
      })
    }
  })
  await session.next('connection.update', u => u.connection === 'open', 15_000, 'connection open')
  return { session, seen }
}

test('plain rc14 does not ack: the stream ends with 500 "Stream Errored (ack)"; unacked statuses come again', async () => {
  const { session, seen } = await openWatching({ ack: false })
  assert.deepEqual(await session.closed(5_000), { statusCode: 500, message: 'Stream Errored (ack)' })
  const first = seen[0]
  assert.deepEqual(
    { tag: first.tag, from: first.attrs.from, type: first.attrs.type, enc: first.content[0].attrs.type },
    { tag: 'status', from: 'status@broadcast', type: 'text', enc: 'skmsg' }
  )
  assert.match(first.attrs.participant, /@lid$/)
  const after = await statusesOf(login.phone)
  assert.ok(after.unacked >= 1)
  assert.equal(after.streamsEnded, 1)

  const again = await openWatching({ ack: true })
  await waitFor(() => again.seen.some(node => node.attrs.id === first.attrs.id), 2_000, 'the unacked status again')
  again.session.sock.end(undefined)
  await again.session.closed()
})

test('a socket that acks every status stays connected past many deadlines', async () => {
  const { session, seen } = await openWatching({ ack: true })
  const ended = session.closed(10 * ACK_TIMEOUT_MS)
  await assert.rejects(ended, /timed out/, 'still connected')
  assert.ok(seen.length >= 10, `${seen.length} statuses`)
  const { unacked, streamsEnded } = await statusesOf(login.phone)
  assert.ok(unacked <= 1, 'at most the one in flight')
  assert.equal(streamsEnded, 1, 'no new stream ended')
  session.sock.end(undefined)
})

test('switched off at run time: no statuses, no deadline', async () => {
  assert.equal((await emulator.call('POST', '/behaviours', { statusStanzas: false })).status, 200)
  const { session, seen } = await openWatching({ ack: false })
  await assert.rejects(session.closed(5 * ACK_TIMEOUT_MS), /timed out/, 'still connected')
  assert.equal(seen.length, 0)
  session.sock.end(undefined)
})
