// What WhatsApp limits about starting new chats, per account:
// - the reach-out time-lock: while it is on, a message to someone the account never exchanged
//   messages with is refused with a 463 nack; existing chats go on. Baileys asks for it with
//   fetchAccountReachoutTimelock();
// - the new-chat message cap: quota and status, reported only (the emulator does not enforce it).
//   Baileys asks for it with fetchNewChatMessageCap() and emits `message-capping.update`.
// Both queries are `iq xmlns=w:mex` (GraphQL by query id); changes are pushed as `mex` notifications.
import { generateMessageIDV2, QueryIds, S_WHATSAPP_NET, XWAPaths } from 'baileys'

const UNLOCKED = { active: false, endsAt: 0, enforcementType: 'DEFAULT' }
const NO_CAP = { total_quota: 0, used_quota: 0, capping_status: 'NONE' }

const lockOnWire = ({ active, endsAt, enforcementType }) => ({
  is_active: active,
  time_enforcement_ends: String(endsAt),
  enforcement_type: enforcementType
})

export class NewChatLimits {
  constructor() {
    this.locks = new Map() // salon phone -> {active, endsAt (unix seconds, 0: no end given), enforcementType}
    this.caps = new Map() // salon phone -> NewChatMessageCapInfo as on the wire
  }

  lock(phone) {
    return this.locks.get(phone) ?? UNLOCKED
  }

  setLock(phone, lock) {
    this.locks.set(phone, lock)
    return this.notification('NotificationUserReachoutTimelockUpdate', {
      xwa2_notify_account_reachout_timelock: lockOnWire(lock)
    })
  }

  isLocked(phone) {
    const { active, endsAt } = this.lock(phone)
    return active && (!endsAt || endsAt * 1000 > Date.now())
  }

  cap(phone) {
    return this.caps.get(phone) ?? NO_CAP
  }

  setCap(phone, cap) {
    this.caps.set(phone, cap)
    return this.notification('MessageCappingInfoNotification', { xwa2_notify_new_chat_messages_capping_info_update: cap })
  }

  /** The `<result>` of a w:mex query about `phone`'s account, or null for queries not emulated. */
  mexResult(iq, phone) {
    const query = iq.content?.find(node => node.tag === 'query')
    let data
    if (query?.attrs.query_id === QueryIds.REACHOUT_TIMELOCK) {
      data = { [XWAPaths.xwa2_fetch_account_reachout_timelock]: lockOnWire(this.lock(phone)) }
    } else if (query?.attrs.query_id === QueryIds.MESSAGE_CAPPING_INFO) {
      data = { [XWAPaths.xwa2_message_capping_info]: this.cap(phone) }
    } else {
      return null
    }
    return { tag: 'result', attrs: {}, content: Buffer.from(JSON.stringify({ data })) }
  }

  notification(opName, data) {
    return {
      tag: 'notification',
      attrs: { from: S_WHATSAPP_NET, type: 'mex', id: generateMessageIDV2(), t: String(Math.floor(Date.now() / 1000)) },
      content: [{ tag: 'update', attrs: { op_name: opName }, content: Buffer.from(JSON.stringify({ data })) }]
    }
  }
}
