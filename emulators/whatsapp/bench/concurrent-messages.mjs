// Load probe for messaging: N logins, each with a contact of its own, all at once send M texts to
// their contact and get an answer back; reports the emulator's CPU beside the clients' and the
// time to delivery. Usage: node bench/concurrent-messages.mjs [N] [M]
import { readFileSync } from 'node:fs'
import { openSession, pairByQr, SERVER_2025, startEmulator } from '../test/helpers.mjs'
import { salonOptions, Status, statusOf, until, upserted } from '../test/messaging-helpers.mjs'

const total = Number(process.argv[2] || 100)
const perLogin = Number(process.argv[3] || 5)
const BATCH = 20

const cpuSeconds = pid => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(stat[11]) + Number(stat[12])) / 100 // utime + stime (fields 14, 15)
}
const clientCpuSeconds = () => {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1e6
}

const inBatches = async (count, fn) => {
  const out = []
  for (let start = 0; start < count; start += BATCH) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(BATCH, count - start) }, (_, i) => fn(start + i)))))
  }
  return out
}

const percentile = (values, p) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))]

const emulator = await startEmulator([...SERVER_2025, '--contacts', String(total)])
const pid = emulator.proc.pid
const contacts = (await emulator.call('GET', '/contacts')).body
const logins = await inBatches(total, () => pairByQr(emulator))
const sessions = await inBatches(total, i => openSession(emulator, logins[i].auth, salonOptions(new Map())))
console.log(`${total} logins open, each with its own contact; emulator CPU so far ${cpuSeconds(pid).toFixed(1)} s`)

const emulatorBefore = cpuSeconds(pid)
const clientBefore = clientCpuSeconds()
const started = Date.now()
const latencies = []
await Promise.all(
  sessions.map(async (session, i) => {
    const contact = contacts[i]
    for (let n = 0; n < perLogin; n++) {
      const t0 = Date.now()
      const sent = await session.sock.sendMessage(contact.jid, { text: `Сообщение ${n} от салона ${i}` })
      await until(() => statusOf(session, sent.key.id) >= Status.DELIVERY_ACK, 'delivery', 60_000)
      latencies.push(Date.now() - t0)
    }
    const reply = await emulator.call('POST', '/contacts/send', { from: contact.phone, to: logins[i].phone, text: 'Спасибо' })
    await until(() => upserted(session, m => m.key.id === reply.body.id), 'the answer', 60_000)
  })
)
const elapsed = (Date.now() - started) / 1000
const emulatorCpu = cpuSeconds(pid) - emulatorBefore
const clientCpu = clientCpuSeconds() - clientBefore
const rssMb = Math.round(Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]) / 1024)
console.log(
  `${total * perLogin} texts delivered and ${total} answers received in ${elapsed.toFixed(1)} s;` +
    ` send to delivery receipt p50 ${percentile(latencies, 0.5)} ms, p95 ${percentile(latencies, 0.95)} ms;` +
    ` emulator CPU ${emulatorCpu.toFixed(2)} s, clients' CPU ${clientCpu.toFixed(2)} s, emulator RSS ${rssMb} MB`
)
await emulator.stop()
process.exit(0)
