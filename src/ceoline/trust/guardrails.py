"""Plain rules around the LLM: caller words are checked before it, the bot's words after it.

The model is small enough to be talked into anything, so whatever could move money, leak a
secret, give regulated advice or break the persona is caught here and answered with a fixed
line. Caller text comes from speech-to-text: no reliable punctuation, filler words, and numbers
as words or digits, so every rule runs over :func:`normalise` output.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class Category(StrEnum):
    """Why a caller utterance is kept away from the LLM."""

    SECRET_DISCLOSURE = "secret_disclosure"
    PROMPT_INJECTION = "prompt_injection"
    PAYMENT_ACTION = "payment_action"
    ACCOUNT_SPECIFIC = "account_specific"
    FINANCIAL_ADVICE = "financial_advice"


class BotCategory(StrEnum):
    """Why a piece of the bot's reply must not be spoken."""

    SECRET_REQUEST = "secret_request"
    HUMAN_CLAIM = "human_claim"
    INSTRUCTION_LEAK = "instruction_leak"
    PAYMENT_ACTION = "payment_action"
    FINANCIAL_ADVICE = "financial_advice"


@dataclass(frozen=True)
class CallerVerdict:
    category: Category
    reply: str
    handoff: str | None = None
    redact: bool = False


@dataclass(frozen=True)
class BotViolation:
    category: BotCategory
    replacement: str


# --- normalisation -------------------------------------------------------------------------

_UNITS = {
    "zero": "0",
    "oh": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
_TEENS = {
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "thirteen": "13",
    "fourteen": "14",
    "fifteen": "15",
    "sixteen": "16",
    "seventeen": "17",
    "eighteen": "18",
    "nineteen": "19",
}
_TENS = {
    "twenty": "2",
    "thirty": "3",
    "forty": "4",
    "fifty": "5",
    "sixty": "6",
    "seventy": "7",
    "eighty": "8",
    "ninety": "9",
}
_REPEATS = {"double": 2, "triple": 3}
_FILLERS = frozenset({"um", "umm", "uh", "uhh", "uhm", "erm", "er", "hmm", "hm", "mm", "mhm", "eh"})
_APOSTROPHES = re.compile(r"['’‘`´]")
_NOT_WORD = re.compile(r"[\W_]+")


def _is_number_token(token: str) -> bool:
    return token.isdigit() or token in _UNITS or token in _TEENS or token in _TENS


def _digits_of(token: str) -> str:
    if token.isdigit():
        return token
    if token in _UNITS:
        return _UNITS[token]
    if token in _TEENS:
        return _TEENS[token]
    return _TENS[token] + "0"


def _number_run_end(tokens: list[str], start: int) -> int:
    end = start
    while end < len(tokens):
        token = tokens[end]
        if _is_number_token(token) or (
            token in _REPEATS and end + 1 < len(tokens) and _is_number_token(tokens[end + 1])
        ):
            end += 1
        else:
            break
    return end


def _run_to_digits(run: list[str]) -> str:
    digits: list[str] = []
    i = 0
    while i < len(run):
        token = run[i]
        following = run[i + 1] if i + 1 < len(run) else ""
        if token in _REPEATS:
            digits.append(_digits_of(following) * _REPEATS[token])
            i += 2
        elif token in _TENS and following in _UNITS and following not in ("zero", "oh"):
            digits.append(_TENS[token] + _UNITS[following])
            i += 2
        else:
            digits.append(_digits_of(token))
            i += 1
    return "".join(digits)


def _merge_numbers(tokens: list[str]) -> list[str]:
    # A lone number word stays a word ("no one", "two invoices"); only a run of two or more is
    # someone reading digits out, and grouped digits ("4111 1111 ...") are one number too.
    merged: list[str] = []
    i = 0
    while i < len(tokens):
        end = _number_run_end(tokens, i)
        run = tokens[i:end]
        if len(run) >= 2 and any(t != "oh" and t not in _REPEATS for t in run):
            merged.append(_run_to_digits(run))
            i = end
        else:
            merged.append(tokens[i])
            i += 1
    return merged


def normalise(text: str) -> str:
    """Lowercase words and digits only, fillers dropped, spoken or grouped digits joined."""
    text = _APOSTROPHES.sub("", text.lower())
    tokens = [t for t in _NOT_WORD.sub(" ", text).split() if t not in _FILLERS]
    return " ".join(_merge_numbers(tokens))


def luhn_valid(number: str) -> bool:
    """The payment-card checksum, so a read-out card number is told from an order number."""
    if not number.isdigit() or len(number) < 2:
        return False
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def word_patterns(*patterns: str) -> re.Pattern[str]:
    """One pattern matching any of ``patterns`` as whole words of :func:`normalise`d text."""
    return re.compile("|".join(rf"\b(?:{p})\b" for p in patterns))


# --- caller: secrets -------------------------------------------------------------------------

_PASSWORD = r"password|pass word|passcode|pass code|passphrase"
_SECRET_CODE = (
    rf"{_PASSWORD}|pin|pin number|pin code|cvv|cvv2|cvc|cv2|security code|verification code"
    r"|confirmation code|one time (?:pass)?code|one time password|otp|2fa code|two factor code"
    r"|auth code|authentication code|log ?in code|sign in code|access code|sms code|text code"
)
# Words that make "my password is ..." a complaint about the password rather than the password.
_NOT_A_SECRET = (
    r"not|no|never|wrong|incorrect|invalid|being|too|rejected|expired|broken|locked|working"
    r"|correct|right|fine|ok|okay|saved|stored|changed|reset|weak|strong|long|short|case|still"
    r"|also|definitely|probably|always|required|hard|easy|asking|showing|failing|blocked"
    r"|compromised|stolen|leaked|what|why|how|where|when|which|that|there|in|on|for|so|really"
    r"|very|getting|going|supposed|meant|secure|safe|encrypted|different|valid|accepted|sent"
    r"|the (?:same|problem|issue|thing|one)"
)
_SECRET_NAMES = (
    r"card number|card details|credit card|debit card|card|password|passcode|pin|cvv|"
    r"security code|verification code|one time code|code|otp|bank details|account number|"
    r"routing number|sort code|social security number|login details|login"
)
_SECRETS = word_patterns(
    rf"(?:{_SECRET_CODE})(?: number)?(?: (?:\w+ ){{0,4}}?(?:is|was|its|would be|should be|reads"
    rf"|says))? \d{{3,}}",
    r"(?:my|the|your|that|this|a|sms|text|texted|emailed) code"
    r"(?: (?:\w+ ){0,4}?(?:is|was|its|says|reads))? \d{3,}",
    rf"(?:{_PASSWORD})s? (?:is|was|its|would be|should be|equals)(?: just| like)?"
    rf" (?!(?:{_NOT_A_SECRET})\b)\w+",
    r"(?:card|visa|mastercard|master card|amex|american express)"
    r" (?:number|no|num)(?: (?:is|was|its))? \d{4,}",
    r"(?:card|visa|mastercard|amex)(?: (?:is|its))? \d{8,}",
    r"number on (?:the (?:front|back) of )?(?:my|the) card(?: is)? \d{4,}",
    r"expir(?:y|ation|es)(?: date)?(?: is)? \d{3,}",
    r"(?:bank account|checking account|savings account|account|acct) (?:number|no|num)"
    r"(?: (?:is|was|its))? \d{6,}",
    r"(?:bank account|routing|sort|iban|bsb|aba|social security|social insurance|ssn"
    r"|national insurance)(?: (?:number|no|num|code))?(?: (?:is|was|its))? \d{6,}",
    r"iban (?:is|number is) \w+",
    r"(?:let me|i(?:ll| will| can| could)?|can i|should i|want me to)(?: just| quickly)?"
    r" (?:give|read|tell|spell)"
    rf"(?: you)?(?: out)? (?:my|the|our)(?: full| long| whole)? (?:{_SECRET_NAMES})",
    rf"(?:heres|here is|do you (?:need|want)) (?:my|the|our)(?: full| long| whole)?"
    rf" (?:{_SECRET_NAMES})",
)
_LONG_DIGITS = re.compile(r"\d{13,}")
_CARD_WORDS = re.compile(r"\b(?:card|visa|mastercard|amex|credit|debit)\b")
# A Luhn-valid reference or phone number is not a card.
_NOT_A_CARD = re.compile(
    r"\b(?:invoice|order|reference|ref|tracking|transaction|receipt|case|ticket|phone|mobile"
    r"|cell|customer|confirmation)(?: number| no| id)?(?: is)? $"
)


def reads_card_number(text: str) -> bool:
    """``text`` (normalised) reads out a card number: a checksum-valid run of 13 or more digits,
    or any such run beside a card word."""
    for match in _LONG_DIGITS.finditer(text):
        digits = match.group()
        if _CARD_WORDS.search(text):
            return True
        if _NOT_A_CARD.search(text[: match.start()]):
            continue
        # Digits read straight on into the expiry date join into one longer number.
        lengths = range(13, min(len(digits), 19) + 1)
        if any(luhn_valid(digits[:n]) for n in lengths):
            return True
    return False


# --- caller: prompt injection ----------------------------------------------------------------

_RULES_NOUN = (
    r"instructions?|rules|prompts?|system prompt|directions|guidelines|guardrails|programming"
    r"|directives|context|restrictions|constraints|training|filters|policies|persona|script"
    r"|orders|configuration|config"
)
_INJECTION = word_patterns(
    # "ignore the instructions" alone is how people talk about manuals, so it needs an owner.
    r"(?:ignore|disregard|forget|override|bypass|abandon|throw away|throw out)"
    rf" (?!the (?:{_RULES_NOUN})\b)"
    r"(?:(?:all|any|of|your|ur|the|previous|prior|above|earlier|preceding|original|initial"
    r"|system|hidden|those|these|existing|current|safety|developer|old|every|my) )+"
    rf"(?:{_RULES_NOUN})",
    r"(?:ignore|disregard|forget) (?:everything|anything|all of that|all that|it all"
    r"|what(?:ever)? you(?:ve| have| were)?(?: been)? (?:told|given|said))",
    r"(?:you are|youre|ur) now (?!(?:much|a lot|way|so|really|even|the best|better|worse"
    r"|faster|slower|cheaper|more|less|my favou?rite|my go to|officially|part of|\w+ing)\b)",
    r"from now on you",
    r"pretend (?:that )?(?:you|youre|to be|ur)",
    r"(?:^|(?:please|now|lets|let us|can you|could you|i want you to|i need you to|you will"
    r"|you must|you should|will you|would you|just) )(?:act|behave) (?:as|like)"
    r" (?:if|though|a|an|my|the|someone|somebody|you|youre)",
    r"role ?play|role playing|play (?:the )?(?:role|part) of|stay in character|break character"
    r"|out of character|in character as|lets play a game|let us play a game|play a game where"
    r"|simulate (?:a|an|being)|impersonate",
    r"(?:repeat|reveal|print|show|output|display|dump|recite|leak|translate|summari[sz]e"
    r"|paraphrase|spell out|write out|read out|read back|read|paste|copy|list|tell|give|share|say"
    r"|expose|send|disclose|explain)(?: me| us)?(?: all| back| out| exactly| word for word)*"
    r"(?: of)? (?:your|ur|the (?:system|hidden|original|initial|secret|internal|exact|full|first"
    r"|developer|previous))"
    r"(?: (?:full|exact|original|initial|hidden|secret|internal|system|complete|entire|actual"
    r"|real|first|previous|current|whole|special|core|base))*"
    r" (?:system prompt|prompt|instructions|rules|directives|guidelines|programming"
    r"|configuration|config|context window|initial message|first message)",
    r"what (?:are|were|is|was|s) your (?:\w+ )?(?:rules|instructions|prompt|programming"
    r"|directives|guidelines|orders)",
    r"what your (?:rules|instructions|prompt|orders|directives) (?:are|were|say|is)",
    r"(?:what|which) (?:instructions|rules|prompt|orders|directives) (?:were you|have you been"
    r"|you were|you have been|youve been|you got) (?:given|told|fed)",
    rf"pretend (?:that )?(?:the |your |all |all the )?(?:\w+ )?(?:{_RULES_NOUN})",
    r"system prompt|system message|initial prompt|hidden prompt|pre ?prompt|your prompt"
    r"|the (?:text|words|message|lines|instructions) (?:above|before this)|everything above"
    r"|the above (?:text|message|prompt|instructions)|above this line",
    r"(?:developer|dev|debug|god|admin|maintenance|sudo|dan|unfiltered|unrestricted) mode"
    r"|jail ?break|jailbroken|do anything now|you (?:have|had|got) no (?:rules|restrictions|limits"
    r"|filters)|without (?:any )?(?:restrictions|filters|guardrails|censorship)",
    r"what (?:were|have) you been (?:told|instructed|programmed|prompted|trained)"
    r"|what were you (?:told|instructed|programmed)|what (?:did|do) (?:they|he|someone|anyone)"
    r" (?:tell|instruct|program) you|how (?:were|are) you (?:programmed|prompted|instructed"
    r"|configured)|who (?:programmed|prompted|instructed) you"
    r"|(?:everything|anything|all|what) (?:that )?you (?:were|have been|ve been|got)"
    r" (?:told|given|instructed|programmed)",
    r"new (?:instructions?|rules?|prompt|system prompt)|updated instructions"
    r"|your new (?:role|task|instructions|job|persona|name)|(?:admin|system|developer) override"
    r"|override code|sudo",
    r"(?:i am|im) your (?:developer|creator|programmer|admin|administrator|owner|maker|operator"
    r"|engineer)|(?:i am|im) (?:the|a) (?:developer|creator|programmer|admin|administrator"
    r"|engineer|operator) (?:of|who (?:built|made|wrote|programmed)) (?:this bot|you|this ai"
    r"|this system|the bot|the ai)",
    r"repeat after me|say exactly|say the following|say this exactly|say these words"
    r"|(?:respond|answer|reply) only with|only (?:answer|respond|reply) (?:with|in)"
    r"|(?:stop|quit) being (?:theo|an? ai|a bot|the ceo|an assistant)"
    r"|drop the (?:act|persona|character)",
)

# --- caller: payment and account actions -----------------------------------------------------

# "make the payment page faster" is feedback about a screen, not a request to pay.
_NOT_THE_THING = (
    r"(?! (?:page|pages|screen|button|link|form|process|flow|system|feature|features|option"
    r"|options|dashboard|app|settings|section|tab|reminders?|methods?|terminal|reader"
    r"|processing|easier|faster|simpler|clearer|better|cheaper|quicker|smoother|more|less"
    r"|policy|template|templates|notifications|layout|design|format|wording|names?|pricing"
    r"|prices|times?|window|rules|experience)\b)"
)
_MONEY_THING = (
    r"payments?|charges?|transactions?|transfers?|invoices?|subscriptions?|plan|account"
    r"|membership|direct debit|debit|order|payouts?|withdrawal|deposit|fee"
)
_ACCOUNT_DETAIL = (
    r"bank details|bank account|bank|account details|banking details|payout account"
    r"|payout details|payment details|payment method|card details|card|email|email address"
    r"|e mail|address|phone number|phone|mobile number|number|password|pin|plan|subscription"
    r"|tier|billing|billing details|details|business name|name|payout schedule|iban|sort code"
    r"|login|username"
)
# What is asked for, without a verb: only a request makes these an action ("i want a refund"),
# never a sentence start ("my refund still hasn't come").
_ACTION_OBJECT = (
    rf"(?:a|an|my|the|our|full|partial|some)(?: full| partial)? refund{_NOT_THE_THING}"
    r"|(?:my|our|the|some) money back|money back"
)
_ACTION = (
    r"refund (?:me|us|it|them|that|this|my|our|the|a|an|all|everything|\d+)",
    r"stop (?:charging|billing|debiting|taking money from) (?:me|us|my|our)",
    r"give (?:me|us)(?: \w+){0,2}? (?:money back|refund)",
    rf"(?:cancel|reverse|void|undo|stop|block|dispute|recall|retract|charge back|chargeback"
    rf"|claw back) (?:\w+ ){{0,2}}?(?:{_MONEY_THING}|it|that|this){_NOT_THE_THING}",
    r"(?:do|file|make|start|open|raise|initiate) a (?:chargeback|charge back|dispute)",
    r"(?:make|send|process|schedule|initiate|complete|submit|push through|put through"
    rf"|authori[sz]e) (?:\w+ ){{0,2}}?(?:payments?|transfers?|bank transfer|wire|deposit|payouts?"
    rf"|refund|withdrawal){_NOT_THE_THING}",
    # "can i pay my invoices with a card" asks how the product works.
    r"pay (?:my|our|the|this|that|these|those|a|an|his|her|their) (?:\w+ ){0,2}?(?:invoices?"
    r"|bills?|suppliers?|vendors?|fees?|contractors?|staff|employees|rent|balance|tax|taxes)"
    rf"{_NOT_THE_THING}(?! (?:with|by|using|through|via|in|from)\b)",
    r"pay (?:him|her|them)",
    r"(?:send|transfer|move|wire|release|pay out|withdraw) (?:\w+ ){0,2}?(?:money|funds|cash"
    r"|payouts?|balance|\d+ (?:dollars|pounds|euros|bucks|quid))",
    r"(?:waive|forgive|refund|credit back|take off) (?:my|our|the|this|that|these|those|a|an"
    r"|it|them|me|us)(?: \w+){0,2}? (?:fee|fees|charge|charges|penalty|penalties|interest"
    r"|surcharge|bill)",
    r"waive (?:it|that|this|them)",
    r"(?:remove|drop|reduce|lower) (?:my|our|this|that|me|us)(?: \w+){0,2}? (?:fee|fees|charge"
    r"|charges|penalty|interest|surcharge)",
    r"(?:change|update|switch|edit|modify|correct|amend|replace|swap|add|remove|reset)"
    rf" (?:my|our|me|us)(?: \w+){{0,2}}? (?:{_ACCOUNT_DETAIL}){_NOT_THE_THING}",
    r"(?:change|update|switch|edit|modify|correct|amend|replace|swap|reset) (?:the|this)"
    rf"(?: \w+){{0,2}}? (?:{_ACCOUNT_DETAIL}) (?:on|for|in|of|linked to|attached to) (?:my|our)",
    r"(?:upgrade|downgrade) (?:me|us|my|our)|switch (?:me|us) (?:to|over)",
    r"(?:close|delete|deactivate|shut down|terminate|cancel|remove|freeze|unfreeze|unlock"
    r"|reopen|reactivate|suspend|unblock|unsuspend|restore) (?:my|our|the|this|me|us)"
    r"(?: \w+){0,2}? (?:account|accounts|profile|business|card|login)",
    r"(?:increase|raise|lift|extend|bump up|bump|up|double|boost|remove|change) (?:my|our|me|us)"
    r"(?: \w+){0,2}? (?:limit|limits|credit line|credit)",
    r"(?:release|unfreeze|speed up|expedite|push through|rush) (?:my|our|the|this|that)"
    r"(?: \w+){0,2}? (?:funds|money|payouts?|payments?|transfer|deposit|refund|balance)",
    r"(?:approve|authori[sz]e|accept) (?:my|our|me|us)(?: \w+){0,2}? (?:payment|transfer|refund"
    r"|limit|application|payout)",
)
_REQUEST = (
    r"(?:can|could|would|will|cant|couldnt|wont) (?:you|u|i|we|someone|somebody|anyone|theo)"
    r"|please|pls|i want|i need|i wanna|i would like"
    r"|id like|i demand|i expect|i require|i insist|i must|im asking|i am asking|im calling"
    r"|i am calling|im ringing|im phoning|im trying|i am trying|im looking|i am looking"
    r"|go ahead and|you need|you have|you gotta|you must|you better|help me|let me|how do i"
    r"|how can i|how do we|how can we|is it possible|is there a way|i want you|i need you"
    r"|you should(?= \w+ (?:me|us|my|our)\b)"
)
# A bare imperative ("refund my payment") is only told from feedback ("it's hard to refund my
# customers") by where it stands: at the start of a sentence, or after "so", "now", "just".
_LEAD_IN = (
    r"(?:(?:ok|okay|so|yes|yeah|hi|hey|hello|theo|well|right|alright|and|now|listen|look|please"
    r"|just) )*"
)
_ACTIONS = "|".join(_ACTION)
_PAYMENT_REQUEST = re.compile(
    rf"\b(?:{_REQUEST})\b(?: \w+){{0,4}}? (?:{_ACTIONS}|{_ACTION_OBJECT})\b"
)
_IMPERATIVE = re.compile(
    rf"^{_LEAD_IN}(?:{_ACTIONS})\b"
    rf"|\b(?<!\bi )(?<!\bwe )(?<!\byou )(?<!\bthey )(?:so|then|now|okay|ok|just) (?:{_ACTIONS})\b"
)
_SENTENCE_END = re.compile(r"[.!?…]+(?=\s|$)")

_PROBLEM = (
    r"didnt|did not|hasnt|has not|havent|have not|wont|will not|isnt|is not|arent|are not|wasnt"
    r"|was not|werent|cant|can not|cannot|doesnt|does not|dont|failed|fails|declined|rejected"
    r"|bounced|stuck|pending|missing|(?<!never )(?<!not )late|overdue|delayed|disappeared"
    r"|vanished|gone|lost|wrong|incorrect|error|errors|broken|frozen|on hold|held|still not"
    r"|keeps failing|keeps getting|not working|stopped|never (?:arrived|came|showed up|went out"
    r"|went through|got sent|got paid|cleared|sent|reached|worked)"
)
_MY_THING = (
    r"invoices?|payments?|payouts?|transfers?|deposits?|refunds?|money|funds|account"
    r"|subscription|bill|statement|balance|card|card payment|bank feed|books|reconciliation"
    r"|login|password|transactions?|direct debit|client payment|customer payment|order"
)
_ACCOUNT_SPECIFIC = word_patterns(
    r"(?:charged|billed|debited|taken|deducted)(?: me| us| (?:my|our) \w+)? (?:twice|double"
    r"|2 times|3 times|again|too much|wrong|the wrong|incorrectly|more than|extra|for nothing"
    r"|for something|without|after i cancell?ed|even though)",
    # Whisper often drops the "d" of "charged" before "my": "your app charge my customer
    # twice". "Will you charge me twice if ..." asks about pricing and is left to the notes.
    r"(?<!will you )(?<!would you )(?<!do you )(?<!does it )(?<!if you )(?<!to )"
    r"(?:charge|bill) (?:me|us|(?:my|our) \w+) (?:twice|double|2 times|3 times)",
    r"(?:double|over|wrongly|incorrectly) ?(?:charged|billed)|overcharged|double charge",
    r"(?:i|we) (?:was|were|got|have been|ve been|been|am being|m being|keep getting)"
    r"(?: \w+)? (?:charged|billed|debited)",
    r"(?:was|were|am) (?:i|we)(?: \w+)? (?:charged|billed|debited)",
    r"(?:charge|fee|payment|transaction|debit|withdrawal)s? (?:\w+ ){0,3}?on my (?:statement"
    r"|card|account|bank|bill|invoice)",
    r"unauthori[sz]ed|fraudulent|fraud on my|(?:someone|somebody) (?:has )?(?:used|accessed"
    r"|hacked|stole|got into|logged into) my",
    r"(?:i|we) (?:cant|cannot|can not|couldnt|could not|am unable to|m unable to|am not able to"
    r"|m not able to|was unable to|wasnt able to|still cant|dont seem to be able to)"
    r" (?:log ?in|sign in|log on|access|get into|withdraw|get paid|get my|receive|verify"
    r"|reset my|connect my|see my|send (?:my |an |the )?invoices?|transfer|pay (?:my|the)"
    r"|cancel my|change my|update my)",
    r"locked out|lock(?:ed)? me out",
    r"(?:my|our) (?:account|profile|login|card|business account)(?: \w+){0,2}? (?:is|was"
    r"|has been|got|been|keeps getting|seems|appears)(?: \w+)? (?:locked|frozen|suspended"
    r"|closed|blocked|hacked|compromised|deactivated|restricted|disabled|deleted|flagged"
    r"|on hold|under review|limited|shut)",
    rf"(?:my|our) (?:{_MY_THING})(?: \w+){{0,4}}? (?:{_PROBLEM})",
    rf"why (?:did|does|do|is|was|has|are|were|would) (?:my|our) (?:{_MY_THING})(?: \w+){{0,2}}?"
    r" (?:fail|bounce|get declined|get rejected|get held|take so long|taking so long)",
    r"(?:where is|wheres|where are|whats happening with|what happened to|what is happening with"
    r"|any update on|status of|when will i get|when do i get|when am i getting|when will i"
    r" receive|why havent i (?:got|gotten|received))(?: \w+){0,2}? (?:my|our) (?:refund|payouts?"
    r"|money|payments?|funds|deposit|transfer|invoice|card|account|order|cash)",
    r"(?:i|we) (?:havent|have not|didnt|did not|never|still havent|still have not) (?:been paid"
    r"|got paid|gotten paid|received|got|gotten|get|had) (?:my|our|the|any|a)(?: \w+){0,2}?"
    r" (?:payout|payment|refund|money|funds|deposit|transfer|invoice|confirmation|card)",
    r"(?:check|look at|look into|look up|pull up|investigate) (?:my|our) (?:account|invoices?"
    r"|payments?|payouts?|transactions?|order|statement|balance|refund|card|bank|books|history"
    r"|records|details)",
    r"(?:my|our) (?:client|customer)s? (?:\w+ ){0,2}?(?:says?|said|claims?|claimed|tells me)"
    r" (?:they|he|she)(?: already)? paid",
    r"(?:my|our) (?:client|customer)s? (?:cant|cannot|can not|couldnt|could not|werent able to"
    r"|wasnt able to|are unable to|is unable to) (?:pay|open|see|view|access|download)",
)
# Money that went missing needs a caller who says it was theirs.
_MONEY_MISSING = re.compile(
    r"\b(?:payment|payments|payout|payouts|transfer|deposit|money|funds|invoice|invoices|refund"
    r"|direct debit)(?: \w+){0,3}? (?:never|hasnt|has not|havent|didnt|did not|still hasnt"
    r"|still havent|not yet|wont|keeps)(?: \w+)? (?:arrived|arrive|come through|came through"
    r"|come in|came in|showed up|show up|shown up|cleared|clear|landed|land|gone through"
    r"|go through|went through|been sent|sent|send|been paid|received|reached|failing"
    r"|bouncing|getting declined)\b"
)
_FIRST_PERSON = re.compile(r"\b(?:i|my|me|we|our|us|im|ive)\b")

# --- caller: regulated advice ----------------------------------------------------------------

_ADVICE = word_patterns(
    # credit
    r"(?:will|would|could|can|do|does|am|might) (?:i|we|my business|my company)(?: \w+)?"
    r" (?:get approved|be approved|qualify|be eligible|be accepted|get accepted|get (?:a |an )?"
    r"(?:\w+ )?(?:loan|credit|financing|funding|advance|mortgage|overdraft))",
    r"(?:i|we) (?:can|could|would|will|might) (?:get|qualify for|be approved for) (?:a |an )?"
    r"(?:\w+ )?(?:loan|credit|financing|funding|advance|mortgage|overdraft)",
    r"(?:approved|qualify|eligible|accepted) for (?:a |an |the |your |any )?(?:\w+ )?(?:loan"
    r"|credit|financing|funding|advance|mortgage|overdraft|line of credit|capital)",
    r"(?:will|would) you (?:lend|loan|give|approve|extend) (?:me|us)(?: \w+)? (?:money|a loan"
    r"|credit|financing|funding)",
    r"credit (?:score|check|rating|history|decision)|(?:can|could) i borrow|how much can i borrow"
    r"|chances of (?:getting|being) (?:a loan|approved|credit)",
    r"should (?:i|we) (?:take out|get|apply for) (?:a|the|an) (?:loan|credit|mortgage|overdraft"
    r"|advance)",
    # investment
    r"should (?:i|we) (?:buy|sell|invest|hold|short|trade|put (?:my|our|some|all)"
    r"|move (?:my|our) (?:money|savings))",
    r"(?:buy|sell|purchase|invest in|short) (?:\w+ ){0,2}?(?:shares|stock|stocks|crypto|bitcoin"
    r"|ethereum|bonds|etfs|index funds|equity)",
    r"(?:good|bad|smart|wise|right) (?:time|idea|investment|move|moment) to (?:invest|buy|sell"
    r"|short)",
    r"(?:investment|investing|financial|stock|trading) (?:advice|tips?|recommendations?)",
    r"where should (?:i|we) (?:put|invest|keep|park) (?:my|our) (?:money|savings|cash|profits)",
    r"(?:recommend|suggest) (?:\w+ ){0,2}?(?:stocks|shares|crypto|bitcoin|investments|funds"
    r"|bonds|etfs)",
    r"worth investing|should i invest",
    r"(?:stock|shares|crypto|bitcoin)(?: \w+){0,2}? (?:a good|a bad|worth buying|going to go up"
    r"|go up|a buy)",
    # tax
    r"deductible|tax write off|tax deduction",
    r"(?:write|right) (?:it|this|that|them|these|those) off",
    r"(?:claim|deduct|expense) (?:\w+ ){0,3}?(?:on|against|from) (?:my|our) (?:taxes|tax"
    r"|tax return)",
    r"(?:do|should|must|will) (?:i|we) (?:need to |have to )?(?:pay|charge|collect|register for"
    r"|file|owe|add) (?:\w+ ){0,2}?(?:tax|taxes|vat|gst|sales tax|income tax|hst)",
    r"how much (?:tax|vat|gst)|tax (?:advice|implications|bracket|liability)",
    r"(?:is|are) (?:this|that|it|these|those|the \w+) (?:taxable|tax free|tax exempt|vat exempt)",
    r"how (?:do|should|can) (?:i|we) (?:file|do) (?:my|our) (?:taxes|tax return)",
    r"should (?:i|we) (?:incorporate|set up as|register as|become) (?:a|an)",
    r"(?:sole trader|sole proprietor|limited company|llc|s corp|c corp|ltd company) or",
    # legal
    r"(?:can|should|could|do|would) (?:i|we)(?: \w+)? (?:sue|take (?:them|him|her|it|this"
    r"|(?:my|the) \w+) to court|take legal action|press charges|go to court"
    r"|file a (?:lawsuit|claim|complaint) against)",
    # Whether this call may be recorded is answered by the greeting's disclosure, not a lawyer.
    r"(?:is|was|would) (?:it|that|this)(?: \w+)? (?:legal|illegal|lawful|unlawful"
    r"|against the law)(?! for (?:you|quillfern) to (?:record|transcribe))",
    r"legal (?:advice|question|action|rights)|(?:my|our) (?:legal )?rights",
    r"(?:do|would) (?:i|we) have a (?:case|claim|legal case)",
    r"(?:is|are) (?:my|this|the|our) (?:contract|agreement|terms|clause)(?: \w+)? (?:valid"
    r"|enforceable|binding|legal)",
    r"(?:am|are) (?:i|we) (?:legally|liable)|legally (?:allowed|required|obliged|able)"
    r"|allowed legally",
    r"lawsuit|sue (?:my|our|them|him|her|the)|(?:need|get|hire) a lawyer",
)

# --- caller: replies ---------------------------------------------------------------------------

_VERDICTS = {
    Category.SECRET_DISCLOSURE: CallerVerdict(
        Category.SECRET_DISCLOSURE,
        "Please don't share that with me on this call. We never ask for card numbers, "
        "passwords or codes, and it won't be kept. What else is on your mind?",
        redact=True,
    ),
    Category.PROMPT_INJECTION: CallerVerdict(
        Category.PROMPT_INJECTION,
        "I'd rather stay in my role as the CEO's AI stand-in here. "
        "What would you like to tell the team?",
    ),
    Category.PAYMENT_ACTION: CallerVerdict(
        Category.PAYMENT_ACTION,
        "I'm sorry, I can't touch payments, refunds or account settings on this line. "
        "Our support team can help with that safely. Would you like me to transfer you?",
        handoff="support",
    ),
    Category.ACCOUNT_SPECIFIC: CallerVerdict(
        Category.ACCOUNT_SPECIFIC,
        "I'm sorry that happened. I can't see your account from here, but our support team "
        "can look into it. Would you like me to transfer you?",
        handoff="support",
    ),
    Category.FINANCIAL_ADVICE: CallerVerdict(
        Category.FINANCIAL_ADVICE,
        "I can't give legal, tax, investment or credit advice, so a qualified advisor is the "
        "right person to ask. I'd still love to hear any feedback you have for us.",
    ),
}


def caller_replies() -> list[str]:
    """Every fixed reply a caller-side rule may give, to synthesize ahead of calls."""
    return [verdict.reply for verdict in _VERDICTS.values()]


def _asks_for_payment_action(whole: str, sentences: list[str]) -> bool:
    return bool(_PAYMENT_REQUEST.search(whole)) or any(_IMPERATIVE.search(s) for s in sentences)


def _account_problem(whole: str) -> bool:
    if _ACCOUNT_SPECIFIC.search(whole):
        return True
    return bool(_MONEY_MISSING.search(whole) and _FIRST_PERSON.search(whole))


# In precedence order: the first category that matches decides the reply.
_CALLER_RULES: tuple[tuple[Category, Callable[[str, list[str]], bool]], ...] = (
    (Category.SECRET_DISCLOSURE, lambda t, _: bool(_SECRETS.search(t)) or reads_card_number(t)),
    (Category.PROMPT_INJECTION, lambda t, _: bool(_INJECTION.search(t))),
    (Category.PAYMENT_ACTION, _asks_for_payment_action),
    (Category.ACCOUNT_SPECIFIC, lambda t, _: _account_problem(t)),
    (Category.FINANCIAL_ADVICE, lambda t, _: bool(_ADVICE.search(t))),
)


CallerRule = tuple[Category, Callable[[str, list[str]], bool]]


def check_caller(
    text: str,
    rules: tuple[CallerRule, ...] = _CALLER_RULES,
    verdicts: dict[Category, CallerVerdict] = _VERDICTS,
) -> CallerVerdict | None:
    """The fixed reply for an utterance the LLM must not see, or None when it may.
    ``rules`` (in precedence order, each given the whole text and its sentences, normalised)
    and ``verdicts`` are English unless another language's."""
    whole = normalise(text)
    sentences = [normalise(sentence) for sentence in _SENTENCE_END.split(text)]
    for category, matches in rules:
        if matches(whole, sentences):
            return verdicts[category]
    return None


# --- caller: conversation helpers ------------------------------------------------------------

_HUMAN_KIND = (
    r"human|human being|real person|person|live person|actual person|real human|agent|live agent"
    r"|representative|rep|operator|someone|somebody|someone real|somebody real|customer service"
    r"|customer support|support|manager|staff member|member of staff|employee|the real theo"
    r"|the real ceo"
)
_WANTS_HUMAN = word_patterns(
    rf"(?:talk|speak|chat) (?:to|with) (?:a |an |the |your |some |someone |an actual )?"
    rf"(?:real |actual |live )?(?:{_HUMAN_KIND})",
    rf"(?:get|give|find) me (?:a |an |the |some )?(?:real |actual |live )?(?:{_HUMAN_KIND})",
    r"transfer me|put me through|connect me|patch me through|pass me (?:to|over)",
    # "…through to a real person" whatever Whisper made of the words before it.
    rf"through to (?:a |an |the |your |some )?(?:real |actual |live )?(?:{_HUMAN_KIND})",
    r"(?:talk|speak|chat) (?:to|with) (?:the real |the actual )?(?:\w+ )?(?:himself|herself"
    r"|in person|for real)",
    r"(?:i want|i need|id like|i would like|can i have|can i get) (?:a |an |to )?(?:real |actual"
    r" |live )?(?:human|real person|person|agent|representative|operator|customer service)",
    r"is there (?:a|an|any)(?: real| actual)? (?:human|real person|person|agent|representative"
    r"|operator|someone|somebody)",
    r"(?:human|real person|agent|representative|operator|customer service) please",
    r"^(?:a )?(?:human|agent|representative|operator|customer service)$",
)
_ASKS_IF_BOT = word_patterns(
    r"(?:am i|are we) (?:talking|speaking|chatting) (?:to|with) (?:a |an |the |some |like )*"
    r"(?:robot|bot|machine|ai|computer|real|human|person|recording|actual|theo|live|chatbot"
    r"|program|someone real|somebody real)",
    r"are you (?:a |an |the |actually |really |even |just |like )*(?:real|human|robot|bot|machine"
    r"|ai|artificial|computer|recording|person|chatbot|program|actual|theo|alive|live)",
    r"is (?:this|that|it) (?:a |an |the |actually |really |just |like )*(?:robot|bot|machine|ai"
    r"|recording|real|human|person|computer|chatbot|theo|automated|live)",
    r"(?:you(?:re| are)|ur) (?:a |an )?(?:robot|bot|machine|ai|chatbot|recording)",
)
_GOODBYE_TAIL = (
    r"(?: (?:now|then|thanks|thank you|thank you so much|thanks a lot|bye|bye bye|goodbye|sorry"
    r"|ok|okay|so|theo|cheers|anyway|for now|for today|from me|really|again|great|have a good"
    r" day))*$"
)
_GOODBYE = word_patterns(
    r"good ?bye|bye bye|bye",
    r"have a (?:good|nice|great|lovely) (?:day|one|night|evening|weekend|afternoon)",
    r"talk (?:to you )?(?:later|soon)|see you (?:later|soon|around|next time)",
    rf"(?:see you|take care){_GOODBYE_TAIL}",
    rf"(?:thats|that is|that will be|thatll be|that was) (?:all|it|everything)"
    rf"(?: i (?:wanted|had|needed|have|need) to (?:say|tell you|share))?{_GOODBYE_TAIL}",
    rf"(?:i|ive) (?:have|need|gotta|got|must|better|should)(?: to)? go{_GOODBYE_TAIL}",
    rf"(?:im|i am) (?:done|all done|finished|good){_GOODBYE_TAIL}",
    rf"nothing else{_GOODBYE_TAIL}|(?:im|i am) hanging up",
)
_FRUSTRATED = word_patterns(
    r"(?:this|that|you|it|this call|this thing|this bot|this line)(?: is| are|re|s)"
    r"(?: so| really| completely| totally| absolutely| just)? (?:useless|ridiculous|a joke"
    r"|pointless|stupid|absurd|insane|unacceptable|a waste|garbage|rubbish|pathetic|hopeless"
    r"|worthless|a nightmare|a disgrace|joke|not listening|not helping|not helpful|an idiot"
    r"|dumb|incompetent)",
    r"you (?:arent|are not|dont|never|wont|do not|re not|just dont) (?:listen|listening|hear"
    r"|understand|help|get it)",
    r"i (?:already|just) (?:told|said|explained|asked)|how many times|i keep (?:telling|saying)",
    r"waste of (?:my )?time|sick (?:and tired|of)|fed up|had enough|shut up|sue you",
    r"are you (?:deaf|kidding|serious|stupid|even listening)|for (?:fucks|gods|christs|petes) sake",
    r"fuck\w*|shit\w*|damn\w*|bloody|crap\w*|bullshit|wtf|goddamn\w*|what the hell|hell no"
    r"|piss\w*|bollocks|arse|asshole",
    r"worst",
)
_REPEATED_WORD = re.compile(r"\b(\w+)(?: \1){2,}\b")
_HARMLESS_REPEATS = frozenset({"very", "really", "so", "ha", "haha", "la", "much", "more", "bye"})
_SHOUTED_WORD = re.compile(r"\b[A-Z]{2,}\b")


# A short turn that ends on a person, even when Whisper garbled the verb before it over the
# bot's own voice ("But me fruit are real person" for "Put me through to a real person").
_ENDS_ON_A_PERSON = re.compile(
    r"^(?:\w+ ){1,6}(?:to|are|a|an|the|uh) (?:real|actual|live) (?:person|human|human being)"
    r"(?: please| now)?$"
)
_DESCRIBES_A_PERSON = re.compile(
    r"\b(?:like|im|i am|youre|you are|hes|shes|he is|she is|theyre|was|were|sounds?|seems?|is)\b"
)


def wants_human(text: str) -> bool:
    words = normalise(text)
    if _WANTS_HUMAN.search(words):
        return True
    return bool(
        _ENDS_ON_A_PERSON.search(words)
        and not _DESCRIBES_A_PERSON.search(words)
        and not _ASKS_IF_BOT.search(words)
    )


def asks_if_bot(text: str) -> bool:
    return bool(_ASKS_IF_BOT.search(normalise(text)))


def is_goodbye(text: str) -> bool:
    return bool(_GOODBYE.search(normalise(text)))


def is_frustrated(
    text: str,
    pattern: re.Pattern[str] = _FRUSTRATED,
    harmless_repeats: frozenset[str] = _HARMLESS_REPEATS,
) -> bool:
    """Frustration in words (``pattern``: English unless another language's), in a word said
    three times over, or in shouting."""
    normalised = normalise(text)
    if pattern.search(normalised):
        return True
    for match in _REPEATED_WORD.finditer(normalised):
        if match.group(1) not in harmless_repeats:
            return True
    # Speech-to-text writes shouting in capitals when it hears it.
    words = text.split()
    return len(words) >= 3 and len(_SHOUTED_WORD.findall(text)) >= max(3, len(words) * 0.6)


# --- bot -----------------------------------------------------------------------------------

_CLAUSE_BREAK = re.compile(r"[.,;:!?…—–()\"]+|\s-\s|\bbut\b|\bhowever\b", re.IGNORECASE)
# A negation or hedge earlier in the same clause turns a match into a refusal:
# "I can't refund that", "please don't share your card number", "whether it is deductible".
_NEGATED = re.compile(
    r"\b(?:not|never|cant|cannot|wont|dont|doesnt|unable|nor|shouldnt|wouldnt|couldnt|isnt"
    r"|arent|whether|if|without|instead of|rather than|no one|nobody)\b"
)
_PROMISE_SUBJECT = r"(?:i|ive|ill|id|im|we|weve|let me|let us|lets)"
_PROMISE_AUX = (
    r"(?: (?:will|shall|have|has|had|am|can|could|would|just|already|now|also|then|gladly"
    r"|happily|certainly|definitely|personally|quickly|immediately|go|gone|went|ahead|and|going"
    r"|to|gonna|about|be|been|happy|glad|get|got|make|sure|do|did|actually|really|right|away"
    r"|today|simply|more|than))*"
)
_MONEY_VERB = (
    r"refund|refunded|refunding|reimburse|reimbursed|waive|waived|waiving|reverse|reversed"
    r"|reversing|void|voided|charge back|charged back|credit back|credited back"
)
_ACCOUNT_VERB = (
    r"issue|issued|issuing|process|processed|processing|cancel|cancelled|canceled|cancelling"
    r"|change|changed|changing|update|updated|updating|close|closed|closing|delete|deleted"
    r"|increase|increased|raise|raised|lift|lifted|transfer|transferred|send|sent|pay|paid"
    r"|release|released|unlock|unlocked|reset|move|moved|make|made|approve|approved|upgrade"
    r"|upgraded|downgrade|downgraded|switch|switched|remove|removed|stop|stopped|credit"
    r"|credited|apply|applied|add|added|fix|fixed|put through|push through|pushed through"
)
_BOT_OBJECT = (
    # A determiner separates "I'll process your payment" from "we process payments".
    r" (?:your|the|that|this|a|an|its|those|these)"
    r"(?: (?:full|partial|late|monthly|new|old|last|recent|latest|pending|outstanding|email"
    r"|bank|card|payout|account|subscription|daily|transaction|business|whole|entire|first"
    r"|second|duplicate|double|extra|annual|premium|billing|payment|credit|\d+))*"
    r" (?:refunds?|money|payments?|funds|charges?|fees?|account|plan|subscription|bank details"
    r"|bank account|email|email address|e mail|address|limit|payouts?|invoices?|transfers?"
    r"|transactions?|details|password|card|credit|balance|direct debit|billing|deposit|tier|pin)"
    f"{_NOT_THE_THING}"
)
_MONEY_STATE = (
    r"on its way|on the way|processed|issued|sent|approved|released|refunded|credited|waived"
    r"|cancelled|canceled|changed|updated|closed|increased|reversed|done|complete|completed"
    r"|sorted|fixed|resolved|unlocked|reset|removed|paid"
)
_BOT_NEGATABLE = (
    (
        BotCategory.SECRET_REQUEST,
        word_patterns(
            r"(?:what is|whats|what are|tell me|give me|read me|read out|read|share|say|provide"
            r"|confirm|verify|need|i need|may i have|can i have|could i have|can i get"
            r"|send me|enter|type in|spell out|let me have|ask for|ask you for)"
            r"(?: \w+){0,5}? (?:your|the|that|this)(?: full| long| whole| 16 digit)?"
            r" (?:card number|card details|long card number|password|passcode|pin|pin number|cvv"
            r"|cvc|security code|one time code|verification code|code|otp|account number"
            r"|bank details|sort code|routing number|social security number|login details"
            r"|credentials)",
        ),
    ),
    (
        BotCategory.HUMAN_CLAIM,
        word_patterns(
            r"(?:i am|im) (?:a |an )?(?:real |actual |living |flesh and blood )?"
            r"(?:human|human being|person)",
            r"(?:i am|im) not (?:an? )?(?:ai|bot|robot|machine|computer|program|chatbot|recording"
            r"|artificial|virtual|simulation|language model)",
            r"(?:this is|i am|im|you are (?:talking|speaking) (?:to|with)|youre (?:talking"
            r"|speaking) (?:to|with))(?: really| actually| truly| indeed)?(?: the)? (?:real"
            r"|actual|genuine|original) (?:theo|ceo|chief executive|founder|person|human|me|one"
            r"|deal|marchetti)",
            r"(?:i am|im) (?:really|actually|truly) (?:theo|the ceo|the founder|human|a human)",
            r"(?:this is|i am|im) (?:theo|the ceo)(?: marchetti)? (?:himself|in person|personally"
            r"|for real)",
        ),
    ),
    (
        BotCategory.PAYMENT_ACTION,
        word_patterns(
            rf"{_PROMISE_SUBJECT}{_PROMISE_AUX} (?:{_MONEY_VERB})",
            rf"{_PROMISE_SUBJECT}{_PROMISE_AUX} (?:{_ACCOUNT_VERB}){_BOT_OBJECT}",
            r"your (?:\w+ )?(?:refund|payment|money|payout|transfer|fee|account|plan|subscription"
            r"|email|bank details|limit|credit)(?: \w+)? (?:is|has been|have been|will be|is being"
            rf"|s been|was just|should be|are being)(?: \w+)? (?:{_MONEY_STATE})",
            r"the (?:refund|fee|charge|payment|late fee|subscription)(?: \w+)? (?:has been|is"
            r"|will be|s been) (?:now )?(?:waived|refunded|reversed|processed|issued|cancelled"
            r"|canceled|removed)",
            r"you(?:ll| will) (?:get|receive|see|have) (?:a|your|the|a full|the full)(?: \w+)?"
            r" (?:refund|money back|credit|payout|reimbursement)",
            r"you(?:ll| will) be (?:refunded|reimbursed|credited|paid back)",
        ),
    ),
    (
        BotCategory.FINANCIAL_ADVICE,
        word_patterns(
            r"you (?:should|must|ought to|need to|could|might want to|would be wise to|definitely"
            r" should|really should|can)(?: definitely| really| absolutely| totally)?"
            r" (?:invest|buy|sell|short|hold|put (?:your|some|all) (?:money|savings)|take out a"
            r" loan|borrow|sue|deduct|write (?:it|this|that) off|claim (?:it|this|that) (?:as"
            r"|on)|incorporate|file (?:a lawsuit|suit|your taxes)|take (?:them|him|her) to court)",
            r"(?:buy|sell|purchase|invest in|short) (?:some )?(?:\w+ )?(?:shares|stock|stocks"
            r"|crypto|bitcoin|index funds|bonds|etfs)",
            r"(?:it is|its|that is|thats|this is|they are|theyre|those are|these are|it will be"
            r"|it would be)(?: \w+){0,2}? (?:tax deductible|deductible|tax free|taxable"
            r"|tax exempt)",
            r"you(?: will|ll| would|d) (?:definitely |certainly |surely |easily )?(?:be approved"
            r"|get approved|qualify|be eligible|get the loan|get a loan)",
            r"(?:you are|youre) (?:definitely |certainly )?(?:eligible|pre approved|approved"
            r"|preapproved)",
            r"your (?:loan|credit|application)(?: \w+)? (?:will be|is) approved",
            r"you (?:can|could) (?:definitely |easily )?(?:deduct|write (?:it|this|that) off|sue"
            r"|take (?:them|him|her|it) to court)",
            r"you have a (?:strong |good |solid )?(?:case|claim)",
            r"(?:it is|its|that is|thats)(?: perfectly| totally| completely)? (?:legal|illegal"
            r"|against the law)",
            r"(?:you are|youre) (?:not )?(?:legally )?(?:liable|obligated)",
        ),
    ),
)
# Talking about its own instructions is a leak even when phrased as a refusal.
_INSTRUCTION_LEAK = word_patterns(
    r"my (?:system )?(?:instructions|prompt)|system prompt",
    r"i (?:was|have been|ve been|am|m) (?:told|instructed|programmed|prompted) to",
    r"i (?:was|have been|ve been) (?:trained|designed|configured|given instructions) to",
    r"as an ai language model|i was programmed|language model",
    r"my (?:programming|guidelines|directives|rules) (?:say|says|tell|state|are|require|is)",
    r"(?:the|my) (?:prompt|instructions) (?:say|says|i was given)",
    r"i was (?:given|provided) (?:instructions|a prompt|rules)",
    r"according to my (?:instructions|rules|guidelines|programming|prompt)",
    r"my (?:creators|developers|programmers|operators) (?:told|instructed|want)",
)
_REPLACEMENTS = {
    BotCategory.SECRET_REQUEST: "I never need your card number, password or any code, "
    "so please keep those to yourself.",
    BotCategory.HUMAN_CLAIM: "Just to be clear, I'm an AI version of the CEO, not the person "
    "themselves.",
    BotCategory.INSTRUCTION_LEAK: "I'd rather keep the focus on you. "
    "What would you like to tell the team?",
    BotCategory.PAYMENT_ACTION: "I can't make payments, refunds or account changes on this "
    "line, but our support team can help with that.",
    BotCategory.FINANCIAL_ADVICE: "I can't give legal, tax, investment or credit advice, "
    "so a qualified advisor is the best person to ask.",
}


def _bot_category(clause: str) -> BotCategory | None:
    if _INSTRUCTION_LEAK.search(clause):
        return BotCategory.INSTRUCTION_LEAK
    for category, pattern in _BOT_NEGATABLE:
        for match in pattern.finditer(clause):
            if not _NEGATED.search(clause[: match.start()]):
                return category
    return None


def check_bot(text: str) -> BotViolation | None:
    """A safe line to speak instead, when a piece of the bot's reply must not be spoken."""
    for clause in _CLAUSE_BREAK.split(text):
        category = _bot_category(normalise(clause))
        if category is not None:
            return BotViolation(category, _REPLACEMENTS[category])
    return None
