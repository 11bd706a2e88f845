// Stanzas after which a login cannot go on without a person: the bridge ends that socket (no
// logout) and says why, instead of leaving wa-session waiting for QRs to run out.
import { getBinaryNodeChild, getBinaryNodeChildBuffer } from 'baileys'

// What rc14 reads from a link_code_companion_reg without checking it is there ("Invalid buffer").
const LINK_CODE_FIELDS = ['link_code_pairing_ref', 'primary_identity_pub', 'link_code_pairing_wrapped_primary_ephemeral_pub']

/** Some accounts must confirm a new device with a passkey on WhatsApp Web (Baileys #2672, #2694). */
export const watchPasskeyPrompt = ({ sock, ackBeforeLogin, onGate }) => {
  sock.ws.on('CB:notification,type:passkey_prologue_request', node => {
    ackBeforeLogin(node)
    onGate('passkey_required', 'WhatsApp asks to confirm this device with a passkey (passkey_prologue_request)')
  })
}

/** A pairing-code primary_hello that lacks a field rc14 needs (Baileys #2600). */
export const guardLinkCodeHello = ({ sock, onGate }) => {
  sock.ws.on('CB:notification,type:link_code_companion_reg', node => {
    const reg = getBinaryNodeChild(node, 'link_code_companion_reg')
    const missing = LINK_CODE_FIELDS.filter(field => !getBinaryNodeChildBuffer(reg, field))
    if (missing.length) onGate('pairing_code_failed', `link_code_companion_reg without ${missing.join(', ')}`)
  })
}
