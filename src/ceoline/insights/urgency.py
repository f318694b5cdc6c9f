"""What must reach a person today, whatever a model thinks of it.

Money taken twice or missing, fraud, someone else's data in view, an owner locked out, a legal or
tax deadline: each costs a caller dearly by the hour. These rules set high urgency and a
follow-up; a model may add urgency elsewhere, never take it away here.
"""

from __future__ import annotations

import re

_RULES = {
    "charged": (
        r"charged (?:me |him |her |them |my \w+ )?(?:twice|two times|double|three times)"
        r"|double charge\w*|charged .{0,30}\b(?:twice|two times)\b|taken twice|paid twice"
        # "charged my customer twice" as Whisper often hears it, the "d" gone; "will you
        # charge me twice ..." is a question about pricing.
        r"|(?<!will you )(?<!would you )(?<!do you )(?<!if you )(?<!to )"
        r"charge (?:me|us|my \w+|our \w+) (?:twice|two times|double|three times)"
        r"|(?:want|need) (?:my|the|our) money back|refund me"
        r"|(?:dragit|dragits|drog|debiterat|debiterats|debiterad|tagit betalt) .{0,30}"
        r"(?:två gånger|dubbelt|tre gånger)|dubbeldragning\w*|dubbeldebiter\w*"
        r"|(?:vill|behöver) ha (?:mina|våra) pengar tillbaka"
    ),
    "missing": (
        r"payout\w* .{0,40}(?:never|not|hasn'?t|didn'?t|late|missing|still)"
        r"|(?:money|payment|payout|funds)\w* .{0,30}(?:gone missing|missing|disappeared|vanished"
        r"|never arrived|not arrived|hasn'?t arrived|didn'?t arrive)"
        r"|never (?:arrived|came|reached)|can'?t (?:pay my|get paid)|cannot (?:pay my|get paid)"
        r"|taken from my (?:account|card)|payments? i (?:never|didn'?t) (?:made|make|authori[sz]e)"
        r"|(?:pengarna|betalningen|utbetalningen|lönen)\w* .{0,30}(?:har inte kommit|kom aldrig"
        r"|försvunnit|saknas)|(?:utbetalning|pengar)\w* .{0,30}(?:har inte kommit|saknas)"
    ),
    "fraud": (
        r"fraud\w*|scam\w*|phishing|fake (?:invoice|email|payment|website|site|account)\w*"
        r"|pretending to be|impersonat\w*|hacked|stolen card|stole"
        r"|bedrägeri\w*|bedragare|falsk\w* (?:faktura|mejl|betalning)\w*|kapat|hackad\w*"
        r"|stulet kort"
    ),
    "data": (
        r"(?:another|other|someone else'?s|somebody else'?s|a stranger'?s|other people'?s"
        r"|another (?:company|customer|business)'?s?) .{0,30}(?:data|invoices?|receipts?|details"
        r"|names|addresses|accounts?)"
        r"|(?:other|another) (?:customers?|companies|company|business|people)'?s? (?:names|data"
        r"|details|invoices|addresses)"
        r"|data (?:breach|leak)\w*|leak\w*|exposed|breach\w*"
    ),
    "locked_out": (
        r"locked out|lock(?:ed)? me out|can'?t (?:log|sign|get) (?:in|into)|cannot (?:log|sign"
        r"|get) (?:in|into)|unable to (?:log|sign) in|stuck outside|shut out of"
        r"|(?:password reset|reset email|two factor|2fa|verification code)\w* .{0,40}(?:never"
        r"|doesn'?t|not|lost|won'?t)|lost (?:my )?(?:phone|device) .{0,30}(?:codes?|two factor"
        r"|2fa|authenticat\w*)"
        r"|utelåst|kan inte logga in|kommer inte in på"
    ),
    "deadline": (
        r"deadline\w*|(?:tax|vat|self assessment) return .{0,30}(?:due|by|tomorrow|friday|monday"
        r"|week|today)|due (?:on|by|tomorrow|today|this week)|hmrc|irs|tax office"
        r"|court|lawyer|solicitor|legal action|sue|tribunal"
        r"|skatteverket|momsdeklaration\w*|deklaration\w* .{0,30}(?:senast|i morgon|på fredag)"
        r"|kronofogden|advokat|stämning"
    ),
}
_COMPILED = {name: re.compile(rf"\b(?:{rule})\b", re.IGNORECASE) for name, rule in _RULES.items()}
REASONS = tuple(_RULES)


def urgent_reason(text: str) -> str | None:
    """The first rule that makes TEXT urgent ("charged", "missing", "fraud", "data",
    "locked_out", "deadline"), or None."""
    plain = text.replace("’", "'")
    for name, rule in _COMPILED.items():
        if rule.search(plain):
            return name
    return None
