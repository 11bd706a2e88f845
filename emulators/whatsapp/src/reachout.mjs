// The account reach-out time-lock, WhatsApp's restriction on starting new chats: while it is on, a
// message to someone the account never exchanged messages with is refused with a 463 nack, and
// existing chats go on. Baileys asks for it with fetchAccountReachoutTimelock() (`iq xmlns=w:mex`,
// a GraphQL query by id); the server pushes changes as a `mex` notification.
import { generateMessageIDV2, QueryIds, S_WHATSAPP_NET, XWAPaths } from 'baileys'

const UNLOCKED = { active: false, endsAt: 0, enforcementType: 'DEFAULT' }
const NOTIFY_PATH = 'xwa2_notify_account_reachout_timelock'

export class ReachoutTimelocks {
  constructor() {
    this.locks = new Map() // salon phone -> {active, endsAt (unix seconds, 0: no end given), enforcementType}
  }

  get(phone) {
    return this.locks.get(phone) ?? UNLOCKED
  }

  set(phone, lock) {
    this.locks.set(phone, lock)
  }

  isLocked(phone) {
    const { active, endsAt } = this.get(phone)
    return active && (!endsAt || endsAt * 1000 > Date.now())
  }

  /** The `<result>` of a w:mex query about `phone`'s account, or null for queries not emulated. */
  mexResult(iq, phone) {
    const query = iq.content?.find(node => node.tag === 'query')
    if (query?.attrs.query_id !== QueryIds.REACHOUT_TIMELOCK) return null
    const data = { [XWAPaths.xwa2_fetch_account_reachout_timelock]: wire(this.get(phone)) }
    return { tag: 'result', attrs: {}, content: Buffer.from(JSON.stringify({ data })) }
  }

  /** The notification that tells a device of `phone` its lock changed. */
  notification(phone) {
    const data = { [NOTIFY_PATH]: wire(this.get(phone)) }
    return {
      tag: 'notification',
      attrs: { from: S_WHATSAPP_NET, type: 'mex', id: generateMessageIDV2(), t: String(Math.floor(Date.now() / 1000)) },
      content: [
        { tag: 'update', attrs: { op_name: 'NotificationUserReachoutTimelockUpdate' }, content: Buffer.from(JSON.stringify({ data })) }
      ]
    }
  }
}

const wire = ({ active, endsAt, enforcementType }) => ({
  is_active: active,
  time_enforcement_ends: String(endsAt),
  enforcement_type: enforcementType
})
