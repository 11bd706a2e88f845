// The emulator's own certificate authority: a root key (the one Baileys must be told to trust),
// an intermediate signed by the root, and a leaf for the Noise static key signed by the intermediate.
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { Curve, WA_CERT_DETAILS, proto } from 'baileys'

const { CertChain } = proto
const TEN_YEARS_S = 10 * 365 * 24 * 3600

const keyPairToJson = kp => ({ private: kp.private.toString('base64'), public: kp.public.toString('base64') })
const keyPairFromJson = json => ({ private: Buffer.from(json.private, 'base64'), public: Buffer.from(json.public, 'base64') })

/** Loads the root key pair from `file`, creating (and saving) it there when the file does not exist. */
export const loadRootKey = file => {
  if (file && existsSync(file)) return keyPairFromJson(JSON.parse(readFileSync(file, 'utf8')))
  const root = Curve.generateKeyPair()
  if (file) writeFileSync(file, JSON.stringify(keyPairToJson(root)) + '\n', { mode: 0o600 })
  return root
}

const certificate = (signerPrivate, details) => {
  const encoded = CertChain.NoiseCertificate.Details.encode(details).finish()
  return { details: encoded, signature: Curve.sign(signerPrivate, encoded) }
}

/**
 * Builds the server identity for the Noise handshake: the static key pair and the encoded CertChain.
 * Baileys checks the intermediate against WA_CERT_DETAILS.PUBLIC_KEY and its issuerSerial against
 * WA_CERT_DETAILS.SERIAL, then the leaf against the intermediate's key.
 */
export const makeServerIdentity = root => {
  const intermediate = Curve.generateKeyPair()
  const staticKey = Curve.generateKeyPair()
  const now = Math.floor(Date.now() / 1000)
  const validity = { notBefore: now - 3600, notAfter: now + TEN_YEARS_S }
  const chain = CertChain.encode({
    intermediate: certificate(root.private, {
      serial: 1,
      issuerSerial: WA_CERT_DETAILS.SERIAL,
      key: intermediate.public,
      ...validity
    }),
    leaf: certificate(intermediate.private, { serial: 2, issuerSerial: 1, key: staticKey.public, ...validity })
  }).finish()
  return { staticKey, certChain: Buffer.from(chain) }
}
