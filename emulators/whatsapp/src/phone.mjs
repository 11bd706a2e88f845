// The primary phone: links a new companion either by scanning its QR or by a pairing code typed
// on the phone, then signs the companion's identity (pair-success) and forces a restart (515).
import { randomBytes } from 'node:crypto'
import {
  aesDecryptCTR,
  aesDecryptGCM,
  aesEncryptCTR,
  Curve,
  derivePairingCodeKey,
  getBinaryNodeChild,
  getBinaryNodeChildBuffer,
  hkdf,
  hmacSign,
  proto,
  S_WHATSAPP_NET,
  WA_ADV_ACCOUNT_SIG_PREFIX,
  WA_ADV_DEVICE_SIG_PREFIX
} from 'baileys'
import { log } from './log.mjs'

const CLIENT_REPLY_TIMEOUT_MS = 10_000
const PHONE_PLATFORM = 'android'

export class PhoneError extends Error {
  constructor(status, message) {
    super(message)
    this.status = status
  }
}

/** `https://wa.me/settings/linked_devices#ref,noiseKey,identityKey,advSecret,platform` (or the old bare form). */
export const parseQr = qr => {
  const parts = String(qr).slice(String(qr).indexOf('#') + 1).split(',')
  if (parts.length < 4) throw new PhoneError(400, 'not a WhatsApp linking QR')
  const [ref, noiseKey, identityKey, advSecret] = parts
  return {
    ref,
    noiseKey: Buffer.from(noiseKey, 'base64'),
    identityKey: Buffer.from(identityKey, 'base64'),
    advSecret: Buffer.from(advSecret, 'base64')
  }
}

/**
 * The phone scans a QR shown by a companion. Resolves once the companion has signed its identity.
 *
 * Today's server (behaviour companionRegRefresh) answers the first scan of a socket with
 * companion_reg_refresh, which retires the adv secret that QR carried: the phone reports
 * "Couldn't link device", and refuses every later QR with a retired secret. Only a companion
 * that rotates its secret and re-renders the QR gets linked. With passkeyPrompt on, a scan that
 * would link gets passkey_prologue_request instead.
 */
export const scanQr = async (registry, qr, phone) => {
  const { ref, noiseKey, identityKey, advSecret } = parseQr(qr)
  const conn = registry.refs.get(ref)
  if (!conn?.isPending()) throw new PhoneError(404, 'unknown QR code')
  conn.scannedQrs.push(qr)
  if (!registry.isRefCurrent(conn, ref)) throw new PhoneError(404, 'QR code expired (rotated out)')
  if (!noiseKey.equals(conn.clientStaticKey) || !identityKey.equals(Buffer.from(conn.registration.eIdent))) {
    throw new PhoneError(404, 'QR code does not match its socket')
  }
  const secret = advSecret.toString('base64')
  if (registry.retiredAdvSecrets.has(secret)) {
    throw new PhoneError(409, "Couldn't link device: this QR carries an adv secret that companion_reg_refresh retired")
  }
  if (registry.behaviours.companionRegRefresh && !conn.regRefreshSent) {
    conn.regRefreshSent = true
    registry.retiredAdvSecrets.add(secret)
    sendRegRefresh(conn)
    throw new PhoneError(409, "Couldn't link device: the server sent companion_reg_refresh and retired this QR's adv secret")
  }
  if (registry.behaviours.passkeyPrompt) {
    sendPasskeyPrologueRequest(conn)
    throw new PhoneError(403, 'passkey required: the server sent passkey_prologue_request instead of linking')
  }
  return pairCompanion(registry, conn, { phone: phone || registry.freshPhone(), advSecret, identityKey })
}

/** Asks an unpaired companion to retire its adv secret (and re-render its QR with a new one). */
export const sendRegRefresh = conn => {
  log.info(`${conn.id}: companion_reg_refresh`)
  return conn.sendNotification('companion_reg_refresh', [{ tag: 'companion_reg_refresh', attrs: {} }])
}

/** The account wants the link confirmed with a passkey on WhatsApp Web: nothing headless gets through. */
const sendPasskeyPrologueRequest = conn => {
  log.info(`${conn.id}: passkey_prologue_request`)
  const requestOptions = { challenge: randomBytes(32).toString('base64url'), rpId: 'whatsapp.com', userVerification: 'required' }
  conn.sendNotification('passkey_prologue_request', [
    { tag: 'passkey_prologue_request', attrs: {}, content: Buffer.from(JSON.stringify(requestOptions)) }
  ])
}

/** Answers the companion's request for a pairing code; the code itself never reaches the server. */
export const onCompanionHello = (conn, iq, reg) => {
  const phone = reg.attrs.jid?.split('@')[0]
  const wrapped = getBinaryNodeChildBuffer(reg, 'link_code_pairing_wrapped_companion_ephemeral_pub')
  if (!phone || !wrapped || wrapped.length < 80) {
    return conn.send({
      tag: 'iq',
      attrs: { from: S_WHATSAPP_NET, type: 'error', id: iq.attrs.id },
      content: [{ tag: 'error', attrs: { code: '400', text: 'bad-request' } }]
    })
  }
  conn.linkCode = { phone, ref: randomBytes(16).toString('hex'), wrappedCompanionEphemeral: Buffer.from(wrapped) }
  log.info(`${conn.id}: pairing code requested for ${phone}`)
  conn.result(iq, [
    {
      tag: 'link_code_companion_reg',
      attrs: {},
      content: [{ tag: 'link_code_pairing_ref', attrs: {}, content: Buffer.from(conn.linkCode.ref) }]
    }
  ])
}

export const onCompanionFinish = (conn, iq) => {
  // Normally consumed by the waiter in enterPairingCode; a stray one just gets its result.
  conn.result(iq)
}

/**
 * The code was typed on the phone of `phone` (or of the only number waiting for one): unwrap the
 * companion's ephemeral key with it, send ours the same way, and derive the adv secret exactly as
 * Baileys does on companion_finish. A wrong code shows up there, as an undecryptable key bundle.
 */
export const enterPairingCode = async (registry, code, phone) => {
  const candidates = registry
    .pendingConnections()
    .filter(c => c.linkCode && !c.linkCode.busy && (!phone || c.linkCode.phone === phone))
  if (!candidates.length) throw new PhoneError(404, 'no socket waits for a pairing code')
  if (candidates.length > 1) throw new PhoneError(409, 'several sockets wait for a pairing code: give the phone')
  const conn = candidates[0]
  const linkCode = conn.linkCode
  linkCode.busy = true
  try {
    const wrapped = linkCode.wrappedCompanionEphemeral
    const codeKey = await derivePairingCodeKey(code, wrapped.subarray(0, 32))
    const companionEphemeral = aesDecryptCTR(wrapped.subarray(48, 80), codeKey, wrapped.subarray(32, 48))

    const account = registry.account(linkCode.phone)
    const primaryEphemeral = Curve.generateKeyPair()
    const salt = randomBytes(32)
    const iv = randomBytes(16)
    const wrapKey = await derivePairingCodeKey(code, salt)
    const wrappedPrimary = Buffer.concat([salt, iv, aesEncryptCTR(primaryEphemeral.public, wrapKey, iv)])

    // linkCodeWithoutIdentity: the primary_hello that rc14 cannot read ("Invalid buffer").
    const withoutIdentity = registry.behaviours.linkCodeWithoutIdentity
    const finishing = withoutIdentity
      ? null
      : conn.expect(
          n => n.tag === 'iq' && getBinaryNodeChild(n, 'link_code_companion_reg')?.attrs.stage === 'companion_finish',
          CLIENT_REPLY_TIMEOUT_MS
        )
    conn.sendNotification('link_code_companion_reg', [
      {
        tag: 'link_code_companion_reg',
        attrs: { stage: 'primary_hello' },
        content: [
          { tag: 'link_code_pairing_ref', attrs: {}, content: Buffer.from(linkCode.ref) },
          ...(withoutIdentity ? [] : [{ tag: 'primary_identity_pub', attrs: {}, content: account.identity.public }]),
          { tag: 'link_code_pairing_wrapped_primary_ephemeral_pub', attrs: {}, content: wrappedPrimary }
        ]
      }
    ])
    if (withoutIdentity) throw new PhoneError(409, 'pairing failed: the primary_hello was sent without primary_identity_pub')
    const finish = await finishing
    conn.result(finish)

    const reg = getBinaryNodeChild(finish, 'link_code_companion_reg')
    const bundle = getBinaryNodeChildBuffer(reg, 'link_code_pairing_wrapped_key_bundle')
    const companionIdentity = Buffer.from(getBinaryNodeChildBuffer(reg, 'companion_identity_public'))
    const companionShared = Curve.sharedKey(primaryEphemeral.private, companionEphemeral)
    const bundleKey = hkdf(companionShared, 32, {
      salt: bundle.subarray(0, 32),
      info: 'link_code_pairing_key_bundle_encryption_key'
    })
    let plain
    try {
      plain = aesDecryptGCM(bundle.subarray(44), bundleKey, bundle.subarray(32, 44), Buffer.alloc(0))
    } catch {
      throw new PhoneError(404, 'wrong pairing code')
    }
    if (!plain.subarray(0, 32).equals(companionIdentity) || !plain.subarray(32, 64).equals(account.identity.public)) {
      throw new PhoneError(400, 'key bundle does not match the companion')
    }
    const identityShared = Curve.sharedKey(account.identity.private, companionIdentity)
    const advSecret = Buffer.from(
      hkdf(Buffer.concat([companionShared, identityShared, plain.subarray(64)]), 32, { info: 'adv_secret' })
    )
    return await pairCompanion(registry, conn, { phone: linkCode.phone, advSecret, identityKey: companionIdentity })
  } finally {
    linkCode.busy = false
  }
}

/** Signs the companion into the account, waits for its pair-device-sign, then demands a restart. */
const pairCompanion = async (registry, conn, { phone, advSecret, identityKey }) => {
  const account = registry.account(phone)
  const device = registry.addDevice(account, { noiseKey: conn.clientStaticKey, identityKey })
  conn.stage = 'linking'
  try {
    const id = conn.nextId()
    const signing = conn.expect(n => n.tag === 'iq' && n.attrs.id === id, CLIENT_REPLY_TIMEOUT_MS)
    conn.send({
      tag: 'iq',
      attrs: { from: S_WHATSAPP_NET, type: 'set', id, xmlns: 'md', t: String(Math.floor(Date.now() / 1000)) },
      content: [
        {
          tag: 'pair-success',
          attrs: {},
          content: [
            { tag: 'device-identity', attrs: {}, content: signedDeviceIdentity(account, device, advSecret) },
            { tag: 'platform', attrs: { name: PHONE_PLATFORM } },
            { tag: 'device', attrs: { jid: device.jid, lid: device.lid } }
          ]
        }
      ]
    })
    const reply = await signing
    checkDeviceSignature(reply, account, device)
    log.info(`${conn.id}: paired as ${device.jid}, asking for a restart (515)`)
    conn.streamError({ code: '515' })
    return { phone, jid: device.jid, lid: device.lid }
  } catch (err) {
    account.devices.delete(device.jid)
    if (!(err instanceof PhoneError)) conn.terminate()
    throw err instanceof PhoneError ? err : new PhoneError(502, `pairing failed: ${err.message}`)
  }
}

/** ADVSignedDeviceIdentityHMAC: the account signs the companion identity; the adv secret authenticates it. */
const signedDeviceIdentity = (account, device, advSecret) => {
  const details = proto.ADVDeviceIdentity.encode({
    rawId: Number.parseInt(account.lidUser.slice(-9), 10),
    timestamp: Math.floor(Date.now() / 1000),
    keyIndex: device.deviceId
  }).finish()
  const accountSignature = Curve.sign(
    account.identity.private,
    Buffer.concat([WA_ADV_ACCOUNT_SIG_PREFIX, details, device.identityKey])
  )
  const signed = proto.ADVSignedDeviceIdentity.encode({
    details,
    accountSignatureKey: account.identity.public,
    accountSignature
  }).finish()
  return proto.ADVSignedDeviceIdentityHMAC.encode({ details: signed, hmac: hmacSign(signed, advSecret) }).finish()
}

/** The companion's pair-device-sign carries its own signature over the same details. */
const checkDeviceSignature = (reply, account, device) => {
  const identityNode = getBinaryNodeChild(getBinaryNodeChild(reply, 'pair-device-sign'), 'device-identity')
  if (!identityNode) throw new PhoneError(502, 'companion did not sign its device identity')
  const signed = proto.ADVSignedDeviceIdentity.decode(identityNode.content)
  const message = Buffer.concat([WA_ADV_DEVICE_SIG_PREFIX, signed.details, device.identityKey, account.identity.public])
  if (!Curve.verify(device.identityKey, message, signed.deviceSignature)) {
    throw new PhoneError(502, 'companion device signature invalid')
  }
}
