"""English: the first line's language, and the one the embedded reply model speaks."""

from __future__ import annotations

import re
from dataclasses import replace

from ceoline.trust import guardrails
from ceoline.trust.languages.table import CallerRules, FixedLines, Language, Words

_TAKE_MESSAGE = (
    "I can't put you through to a person right now, but I can take a message and someone "
    "from the team will call you back. What would you like them to know?"
)

LINES = FixedLines(
    transferring="Of course. I'm transferring you to a person now, please hold on.",
    take_message=_TAKE_MESSAGE,
    transfer_failed="I'm sorry, I couldn't reach anyone just now. " + _TAKE_MESSAGE,
    message_taken="Thank you, I've passed that on, and someone will call you back.",
    offer_human="I'm sorry this is frustrating. Would you like me to put you through to a person?",
    offer_declined="No problem. I'm listening, go ahead.",
    offer_again="A person can sort that out with you properly. Shall I put you through now?",
    not_understood=(
        "Sorry, I don't think I understood. Would you like me to connect you to a person?"
    ),
    not_caught="Sorry, I didn't catch that. Could you say it again?",
    dont_know=(
        "I don't have that in front of me, and I'd rather not guess. I'll pass your question "
        "on to the team."
    ),
    identity=(
        "Yes, I'm an AI version of {name}, not the real person. I can pass anything you tell "
        "me on to the team, or connect you to a person if you'd like."
    ),
    noted_first=(
        "Thank you, I've noted that word for word for the team. On this line I can answer "
        "questions about the company and pass on everything you say. What else is on your mind?"
    ),
    # Also what a caller hears when the reply model cannot be reached at all: asking them to
    # repeat would not help, so what they said is kept and they are told so.
    noted="Thank you, I've noted that, and the team will see it. What else is on your mind?",
    fallback="Sorry, I lost my train of thought there. Could you say that again?",
    still_there="Are you still there? I'm here whenever you're ready.",
    silence_goodbye="I can't hear anything, so I'll hang up now.",
    max_duration_goodbye="We've reached the time limit for this call, so I have to wrap up.",
    shutdown_goodbye="I'm sorry, the hotline has to close right now.",
)

_BACKCHANNELS = frozenset({
    "mm", "mmm", "hmm", "hm", "mhm", "mm-hm", "mm-hmm", "uh-huh", "uh", "um", "yeah", "yes",
    "yep", "ok", "okay", "right", "sure", "i", "see", "got", "it", "cool", "alright", "ah", "oh",
    "aha", "true", "exactly", "indeed", "nice", "great"
})  # fmt: skip

_UNFINISHED_ENDINGS = frozenset({
    "and", "but", "or", "so", "because", "that", "the", "a", "an", "to", "of", "with", "for",
    "like", "um", "uh", "i", "my", "is", "was", "if", "when", "which", "who", "think", "mean",
    "about", "in", "on", "at", "your", "our", "then", "also", "maybe", "just", "we", "you"
})  # fmt: skip

# "OK", "yes" and "right" are not here: said alone they answer the bot's question.
_PREFACES = frozenset({
    "well", "honestly", "so", "um", "uh", "er", "erm", "hmm", "look", "listen", "basically",
    "actually", "frankly", "see", "you", "i", "mean", "like", "now", "then"
})  # fmt: skip

_ASKING = frozenset({
    "do", "did", "does", "can", "could", "would", "will", "should", "are", "were", "have", "if",
    "when", "and", "but", "so", "that", "as"
})  # fmt: skip

WORDS = Words(
    backchannels=_BACKCHANNELS,
    unfinished_endings=_UNFINISHED_ENDINGS,
    prefaces=_PREFACES,
    either_ending="you",
    asking=_ASKING,
    stop_request=re.compile(
        r"\b(wait|stop|hold on|hang on|sorry|excuse me|no|actually|one moment|one second|"
        r"pardon)\b",
        re.IGNORECASE,
    ),
    # Whisper drops the mark when a question ends on a level pitch ("When was Quillfern
    # founded and by whom").
    question_openers=re.compile(
        r"^(?:(?:so|and|but|okay|ok|well|hi|hey|hello|sorry|excuse me)[,.]?\s+)*"
        r"(?:what|when|where|who|whom|whose|which|why|how|can|could|would|will|do|does|did|is|"
        r"are|was|were|have|has|may|should)\b",
        re.IGNORECASE,
    ),
)

# Whisper hears a quick "When was…" as "One was…" or one word (tiny on CTranslate2's AVX-512
# kernels: "Wendwuss"), and "When did…" or "When will…" as one word (tiny: "Wendid",
# "Winded", "Wounded"; base: "Wendet", "Wendell", "Wenwick"); no caller opens a sentence
# that way.
_LEAD_IN = r"^(\W*(?:so|um|uh|and)?\W*)"
_REPAIRS = (
    (re.compile(_LEAD_IN + r"one (was|did|is|were|will|does|do)\b", re.I), r"\1When \2"),
    (
        re.compile(_LEAD_IN + r"(?:winded|wendid|wounded|wenda|wended|wendet|wendell)\b", re.I),
        r"\1When did",
    ),
    (re.compile(_LEAD_IN + r"(?:wenwick|wenwell)\b", re.I), r"\1When will"),
    (re.compile(_LEAD_IN + r"(?:wendwuss|wenwuss|wendwas)\b", re.I), r"\1When was"),
)

RULES = CallerRules(
    check_caller=guardrails.check_caller,
    refusals=tuple(guardrails.caller_replies()),
    wants_human=guardrails.wants_human,
    asks_if_bot=guardrails.asks_if_bot,
    is_goodbye=guardrails.is_goodbye,
    is_frustrated=guardrails.is_frustrated,
    yes=re.compile(
        r"^\s*(yes|yeah|yep|yup|sure|please|ok|okay|alright|all right|definitely|"
        r"go ahead|that would be (great|good)|i would|i'd like that)\b"
    ),
    no=re.compile(r"^\s*(no|nope|nah|not now|no thanks|that's okay|it's fine|i'm fine)\b"),
    confused=re.compile(
        r"\b(that's not what i (asked|said|meant)|you (don't|do not|didn't) (understand|get it)|"
        r"you misunderstood|that doesn't answer|i didn't ask (that|about)|"
        r"what are you talking about)"
    ),
    fact_question=re.compile(
        r"\b(when|where|who|how many|how much|what year|which year|how long|what is|what's|"
        r"what are|tell me about)\b.*\b(company|quillfern|founded|founder|started|start|"
        r"history|mission|office|headquarters|ceo|employees|customers|price|pricing|cost|"
        r"product|app|launch|launched|values|investors|team)\b"
    ),
    info_question=re.compile(
        r"^(so |and |but |um |uh |okay |ok |hey |hi |well )*(what|when|where|who|whom|whose|"
        r"which|how many|how much|how old|how long|how big|why (?!don't|not|can't|won't)|"
        # "Did you found it alone?", "Is the company profitable?": yes or no is a fact too.
        r"(did|does|is|are|was|were|has|have) (you|your|the|it|they)\b|"
        # "Do you have an office in Germany?", "do you support Xero?"; "do you like your
        # job?" is small talk.
        r"do (you|they) (have|offer|sell|own|support|sponsor|accept|work with|partner with)\b)\b"
        r"(?!.*\b(if|about|think|feel|idea|suggest\w*|add|could|should|please)\b)"
    ),
    question_start=re.compile(
        r"^(so |and |but |um |uh |okay |ok |hey |hi |well )*(what|when|where|who|whom|whose|"
        r"how|why|which|do|does|did|is|are|was|were|can|could|would|will|have|has|tell me)\b"
    ),
    # Complaints and reports are feedback even when phrased as questions ("why is it so slow?").
    complaint=re.compile(
        r"\b(wrong|broken|broke|crash\w*|bug\w*|doesn't work|does not work|isn't working|"
        r"not working|problem\w*|issue\w*|slow\w*|hate|annoy\w*|confus\w*|frustrat\w*|"
        r"fix|error\w*|fail\w*|missing|stuck|freez\w*)\b"
    ),
    suggestion=re.compile(
        r"\b(should|could you|can you add|would be (nice|great|good)|please add|i wish|"
        r"it would help|why not|how about|suggest\w*|idea|feature request|add a|support for)\b"
    ),
    # Praise beyond a plain "thanks", which is as often manners as praise.
    praise=re.compile(
        r"\b(love\w*|great|brilliant|amazing|excellent|awesome|happy|helpful|fantastic|"
        r"wonderful|perfect|easy|nice|good job|well done)\b"
    ),
    negated=re.compile(r"\b(not|never|no|nothing|hardly)\b|n't\b"),
    # "Your Chief Financial Officer.": Whisper dropped the "who is" in front.
    role=re.compile(
        r"\b(ceo|cto|cfo|chief \w+ officer|co ?founders?|founders?|head of \w+|in charge of)\b"
    ),
    who_is="Who is {role}?",
    repairs=_REPAIRS,
)

ENGLISH = Language(code="en", lines=LINES, words=WORDS, rules=RULES)

# British English: the same rules and lines (they were written in British usage), with the
# backchannels a British caller says while listening. What a UK line says differently is its
# disclosure (ceoline.persona.profile).
ENGLISH_GB = replace(
    ENGLISH,
    code="en-gb",
    words=replace(WORDS, backchannels=_BACKCHANNELS | {"lovely", "cheers", "ta"}),
)
