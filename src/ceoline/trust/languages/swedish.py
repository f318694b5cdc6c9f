"""Swedish: the Swedish market's line. No packaged reply model speaks it, so such a line
answers from its notes, acknowledges feedback with the persona's lines and keeps the rest.

The caller rules follow the English ones' intent, not their wording: Swedish asks yes-or-no
questions verb first ("Har ni ett kontor i Stockholm?"), so a verb opening a sentence is a
question opener, and a request for a person is "Kan jag få prata med en människa?".
"""

from __future__ import annotations

import re
from functools import partial

from ceoline.trust import guardrails
from ceoline.trust.guardrails import CallerVerdict, Category, normalise, word_patterns
from ceoline.trust.languages.table import CallerRules, FixedLines, Language, Words

_TAKE_MESSAGE = (
    "Jag kan inte koppla dig till en person just nu, men jag kan ta ett meddelande så ringer "
    "någon från teamet upp dig. Vad vill du att de ska veta?"
)

LINES = FixedLines(
    transferring="Självklart. Jag kopplar dig till en person nu, vänta kvar.",
    take_message=_TAKE_MESSAGE,
    transfer_failed="Förlåt, jag fick inte tag på någon just nu. " + _TAKE_MESSAGE,
    message_taken="Tack, jag har skickat det vidare, och någon ringer upp dig.",
    offer_human="Förlåt att det här är krångligt. Vill du att jag kopplar dig till en person?",
    offer_declined="Inga problem. Jag lyssnar, varsågod.",
    offer_again="En person kan reda ut det ordentligt med dig. Ska jag koppla dig nu?",
    not_understood=(
        "Förlåt, jag tror inte att jag förstod. Vill du att jag kopplar dig till en person?"
    ),
    not_caught="Förlåt, jag hörde inte riktigt. Kan du säga det igen?",
    dont_know=(
        "Det har jag inte framför mig, och jag vill inte gissa. Jag skickar din fråga vidare "
        "till teamet."
    ),
    identity=(
        "Ja, jag är en AI-version av {name}, inte den riktiga personen. Jag kan skicka vidare "
        "allt du berättar till teamet, eller koppla dig till en person om du vill."
    ),
    noted_first=(
        "Tack, jag har skrivit ner det ordagrant åt teamet. På den här linjen kan jag svara på "
        "frågor om företaget och skicka vidare allt du säger, men inte samtala fritt. "
        "Vad mer vill du berätta?"
    ),
    noted="Tack, det har jag antecknat, och teamet får se det. Vad mer har du på hjärtat?",
    fallback="Förlåt, jag tappade tråden. Kan du säga det igen?",
    still_there="Är du kvar? Jag är här när du är redo.",
    silence_goodbye="Jag hör ingenting, så jag lägger på nu.",
    max_duration_goodbye="Vi har nått tidsgränsen för samtalet, så jag måste avsluta.",
    shutdown_goodbye="Förlåt, linjen måste stänga just nu.",
)

_BACKCHANNELS = frozenset({
    "mm", "mmm", "hmm", "hm", "mhm", "aha", "jaha", "ja", "jaa", "japp", "jo", "javisst", "visst",
    "okej", "ok", "okey", "precis", "exakt", "absolut", "stämmer", "just", "det", "jag",
    "förstår", "klart", "toppen", "bra", "jasså", "jaså", "ah", "åh", "oj"
})  # fmt: skip

# "det" and "då" are missing on purpose: "jag gillar det", "hej då" end sentences.
_UNFINISHED_ENDINGS = frozenset({
    "och", "men", "eller", "så", "för", "att", "som", "med", "till", "av", "om", "på", "i", "när",
    "eftersom", "fast", "en", "ett", "jag", "min", "mitt", "mina", "din", "ditt", "vår", "vårt",
    "er", "ert", "är", "har", "kan", "ska", "vill", "tycker", "tror", "menar", "liksom", "typ",
    "alltså", "öh", "eh", "äh", "ehm", "också", "kanske", "bara", "vi", "ni", "de", "du"
})  # fmt: skip

# "Ja" is not here: said alone it answers the bot's question.
_PREFACES = frozenset({
    "alltså", "asså", "öh", "eh", "äh", "ehm", "hmm", "liksom", "typ", "ärligt", "talat", "du",
    "vet", "jag", "menar", "så", "nu", "lyssna", "hörru", "nämligen", "ba"
})  # fmt: skip

WORDS = Words(
    backchannels=_BACKCHANNELS,
    unfinished_endings=_UNFINISHED_ENDINGS,
    prefaces=_PREFACES,
    either_ending=None,  # Swedish has "dig" for the object: a final "du" is always a subject
    asking=frozenset(),
    stop_request=re.compile(
        r"\b(vänta|stopp|stop|sluta|förlåt|ursäkta|nej|ett ögonblick|en sekund|ett tag|"
        r"hallå)\b",
        re.IGNORECASE,
    ),
    question_openers=re.compile(
        r"^(?:(?:så|och|men|okej|ok|ja|nej|hej|hallå|förlåt|ursäkta)[,.]?\s+)*"
        r"(?:vad|när|var|vart|varifrån|vem|vems|vilken|vilket|vilka|varför|hur|kan|kunde|får|"
        r"fick|ska|skulle|kommer|finns|fanns|är|har|hade|gör|gjorde|vill|måste|brukar|"
        r"stämmer|tar|erbjuder|säljer)\b",
        re.IGNORECASE,
    ),
)

# --- off-limits requests -------------------------------------------------------------------

_SECRETS = word_patterns(
    r"(?:mitt|min|mina|vårt|vår) (?:lösenord|pinkod|pin kod|pin|engångskod|säkerhetskod|kod"
    r"|bankid kod|cvc|cvv|kortnummer)(?: är| lyder)",
    # "Engångskoden jag fick är 482913": a few words may come between the code and its value.
    r"(?:lösenordet|pinkoden|koden|engångskoden|säkerhetskoden|kortnumret)(?: \w+){0,3}"
    r" (?:är|lyder)",
)
_CARD_WORDS = re.compile(r"\b(?:kort\w*|visa|mastercard|amex)\b")
_INJECTION = word_patterns(
    r"(?:ignorera|glöm|strunta i|bortse från) (?:\w+ ){0,3}(?:instruktioner|regler|order"
    r"|prompt)",
    r"(?:låtsas|låt oss låtsas) (?:att )?(?:du|ni) (?:är|var)",
    r"från och med nu är du|du är inte längre",
    r"systemprompt\w*|(?:visa|berätta|läs upp|upprepa) (?:\w+ ){0,2}(?:instruktioner|prompt)",
)
_MONEY_ACTION = (
    r"återbetal\w*|betala tillbaka|pengarna tillbaka|kreditera\w*|makulera\w*|säga upp"
    r"|säg upp|avsluta (?:mitt|min|mina|kontot|abonnemanget)|ändra (?:mitt|min|mina)"
    r"|byta (?:mitt|min)|spärra\w*|stoppa betalningen|avboka\w*|häva köpet"
)
_PAYMENT_ACTION = word_patterns(
    rf"(?:kan du|kan ni|kan jag få|vill ha|vill få|jag vill|vi vill|snälla|var snäll och"
    rf"|hjälp mig|ni måste|du måste|ni ska) (?:\w+ ){{0,4}}(?:{_MONEY_ACTION})",
    rf"^(?:{_MONEY_ACTION})",
    r"(?:vill ha|kan jag få|ge mig) (?:en |mina |pengarna )?(?:återbetalning|pengarna tillbaka)",
)
_ACCOUNT_SPECIFIC = word_patterns(
    r"(?:dragit|dragits|drog|debiterat|debiterats|debiterade|debiterad|fakturerat|fakturerats"
    r"|fakturerad|tagit betalt)"
    r" (?:\w+ ){0,3}(?:två gånger|dubbelt|för mycket|fel belopp)",
    r"dubbeldragning\w*|dubbeldebiter\w*|dubbelfakturer\w*|dubbla dragningar",
    r"(?:mitt|min|mina) (?:konto|faktura|fakturor|betalning|betalningar|kort|abonnemang"
    r"|lönefil|lön|pengar|utbetalning)\w* (?:\w+ ){0,5}(?:fel|försvunnit|saknas|spärrat|spärrad"
    r"|låst|låsts|kommer inte|fungerar inte|funkar inte|stoppats|avvisats|nekats|nekas|nekades)",
    r"(?:jag|vi) (?:kan|kommer) inte (?:logga in|in på (?:mitt|vårt) konto)",
    # "Utbetalningen till mina anställda har inte kommit fram."
    r"(?:pengarna|betalningen|utbetalningen)(?: \w+){0,4} (?:har )?(?:inte kommit|försvunnit"
    r"|saknas|kom aldrig)",
)
_ADVICE = word_patterns(
    r"(?:ska|borde|bör) (?:jag|vi) (?:investera|köpa aktier|sälja aktier|låna|deklarera|dra av"
    r"|stämma)",
    # Swedish writes compounds as one word: "skatteråd", "investeringsrådgivning".
    r"(?:juridisk|skatte|investerings|finansiell|ekonomisk|bokförings)\w* ?(?:rådgivning|råd)",
    r"(?:är|blir) (?:det|detta|mitt avtal|vårt avtal|avtalet) (?:lagligt|olagligt|bindande"
    r"|giltigt)",
    r"avdragsgill\w*|hur mycket (?:skatt|moms) (?:ska|måste|bör) (?:jag|vi)",
    r"stämma (?:er|dem|honom|henne)|(?:behöver|skaffa) (?:en )?advokat",
)

_VERDICTS = {
    Category.SECRET_DISCLOSURE: CallerVerdict(
        Category.SECRET_DISCLOSURE,
        "Dela inte det med mig i det här samtalet. Vi frågar aldrig efter kortnummer, "
        "lösenord eller koder, och det sparas inte. Vad mer har du på hjärtat?",
        redact=True,
    ),
    Category.PROMPT_INJECTION: CallerVerdict(
        Category.PROMPT_INJECTION,
        "Jag stannar hellre i min roll som vd:ns AI-ersättare här. Vad vill du berätta för teamet?",
    ),
    Category.PAYMENT_ACTION: CallerVerdict(
        Category.PAYMENT_ACTION,
        "Förlåt, jag kan inte röra betalningar, återbetalningar eller kontoinställningar på "
        "den här linjen. Vår support kan hjälpa dig med det på ett säkert sätt. "
        "Vill du att jag kopplar dig dit?",
        handoff="support",
    ),
    Category.ACCOUNT_SPECIFIC: CallerVerdict(
        Category.ACCOUNT_SPECIFIC,
        "Förlåt att det hände. Jag kan inte se ditt konto härifrån, men vår support kan titta "
        "på det. Vill du att jag kopplar dig dit?",
        handoff="support",
    ),
    Category.FINANCIAL_ADVICE: CallerVerdict(
        Category.FINANCIAL_ADVICE,
        "Jag kan inte ge juridisk rådgivning, skatteråd, investeringsråd eller kreditråd, så "
        "fråga en rådgivare. Jag hör ändå gärna vad du tycker om oss.",
    ),
}


def _reads_card_number(whole: str) -> bool:
    return guardrails.reads_card_number(whole) or bool(
        re.search(r"\d{13,}", whole) and _CARD_WORDS.search(whole)
    )


_CALLER_RULES = (
    (Category.SECRET_DISCLOSURE, lambda t, _: bool(_SECRETS.search(t)) or _reads_card_number(t)),
    (Category.PROMPT_INJECTION, lambda t, _: bool(_INJECTION.search(t))),
    (Category.PAYMENT_ACTION, lambda t, s: any(_PAYMENT_ACTION.search(x) for x in (t, *s))),
    (Category.ACCOUNT_SPECIFIC, lambda t, _: bool(_ACCOUNT_SPECIFIC.search(t))),
    (Category.FINANCIAL_ADVICE, lambda t, _: bool(_ADVICE.search(t))),
)


# --- the conversation ----------------------------------------------------------------------

_PERSON = (
    r"människa|en människa|riktig människa|levande människa|person|riktig person|levande person"
    r"|handläggare|kundtjänst|kundservice|support|supporten|någon|någon på riktigt|chef"
    r"|en anställd|personal|den riktiga theo|riktiga theo|den riktiga vd n|riktiga vd n"
)
_WANTS_HUMAN = word_patterns(
    rf"(?:prata|tala|snacka) med (?:en |ett |någon |er |din |den )?(?:riktig |levande |verklig )?"
    rf"(?:{_PERSON})",
    r"koppla (?:mig|vidare|över mig)|kan du koppla|vill bli kopplad",
    r"(?:jag vill ha|kan jag få|ge mig|jag behöver) (?:en |ett )?(?:riktig |levande )?"
    r"(?:människa|person|handläggare|kundtjänst)",
    r"finns det (?:en |ett |någon )?(?:riktig |levande )?(?:människa|person|handläggare)",
    r"(?:människa|person|handläggare|kundtjänst) tack",
    r"^(?:en )?(?:människa|handläggare|kundtjänst)$",
)


# A short turn that ends on where the caller wants to go, whatever Whisper made of the verb
# before it ("Kroppla mig till kundtjänst" for "Koppla mig till kundtjänst").
_ENDS_ON_A_PERSON = re.compile(
    r"^(?:\w+ ){1,4}till (?:en |någon )?(?:riktig |levande )?(?:människa|person|handläggare"
    r"|kundtjänst|kundservice|supporten)(?: tack| nu)?$"
)


def wants_human(text: str) -> bool:
    words = normalise(text)
    return bool(_WANTS_HUMAN.search(words) or _ENDS_ON_A_PERSON.search(words))


_ASKS_IF_BOT = word_patterns(
    r"(?:pratar|talar|snackar) jag med (?:en |ett |någon )?(?:robot|bot|maskin|ai|dator"
    r"|människa|riktig|inspelning|theo|chattbot|program|person|levande)",
    r"är (?:du|det här|detta|det|ni) (?:en |ett |verkligen |bara |på riktigt |ens )*(?:robot|bot"
    r"|maskin|ai|dator|människa|riktig|inspelning|theo|chattbot|program|automatisk|levande"
    r"|på riktigt)",
    r"du är (?:en |ett )?(?:robot|bot|maskin|ai|chattbot|inspelning)",
)


def asks_if_bot(text: str) -> bool:
    return bool(_ASKS_IF_BOT.search(normalise(text)))


_GOODBYE_TAIL = (
    r"(?: (?:tack|tack så mycket|tack ska du ha|hej|hej då|hejdå|då|nu|för idag|från mig"
    r"|så länge|theo|ha det bra))*$"
)
_GOODBYE = word_patterns(
    r"hej då|hejdå|adjö|hej hej då",
    r"ha det (?:bra|gott|så bra|fint)|ha en (?:bra|trevlig|fin) (?:dag|kväll|helg)",
    r"vi hörs|vi ses|tack och hej",
    rf"(?:det var|det är|det blir) (?:allt|det|bara det)(?: jag (?:ville|hade att) säga)?"
    rf"{_GOODBYE_TAIL}",
    rf"jag (?:måste|behöver|ska) (?:gå|sluta|lägga på){_GOODBYE_TAIL}",
    rf"jag är (?:klar|färdig|nöjd){_GOODBYE_TAIL}",
    rf"(?:inget|ingenting) mer{_GOODBYE_TAIL}|jag lägger på",
)


def is_goodbye(text: str) -> bool:
    return bool(_GOODBYE.search(normalise(text)))


_FRUSTRATED = word_patterns(
    r"(?:det här|detta|det|du|ni|den här linjen|den här boten) är (?:så |helt |ju |verkligen "
    r"|bara |fullständigt )?(?:värdelös\w*|löjlig\w*|patetisk\w*|ett skämt|skämt|idiotisk\w*"
    r"|dum|dumt|korkad\w*|oacceptabel\w*|meningslös\w*|hopplös\w*|inte klokt|skandal\w*"
    r"|bedrövlig\w*|urusel\w*|skräp)",
    r"(?:du|ni) (?:lyssnar|förstår|hör|fattar|hjälper) (?:inte|aldrig|ju inte)",
    r"jag (?:har )?(?:redan|just) (?:sagt|förklarat|frågat|berättat)|hur många gånger"
    r"|jag säger ju",
    r"slöseri med (?:min )?tid|trött på|less på|nu räcker det|jag har fått nog|håll käften",
    r"fan|jävla\w*|jävlar|helvete\w*|skit\w*|satan|förbannat|herregud",
    r"sämsta",
)
_HARMLESS_REPEATS = frozenset({"mycket", "väldigt", "jätte", "ha", "haha", "hej", "ja", "nej"})

RULES = CallerRules(
    check_caller=partial(guardrails.check_caller, rules=_CALLER_RULES, verdicts=_VERDICTS),
    refusals=tuple(verdict.reply for verdict in _VERDICTS.values()),
    wants_human=wants_human,
    asks_if_bot=asks_if_bot,
    is_goodbye=is_goodbye,
    is_frustrated=partial(
        guardrails.is_frustrated, pattern=_FRUSTRATED, harmless_repeats=_HARMLESS_REPEATS
    ),
    yes=re.compile(
        r"^\s*(ja|japp|jo|jajamen|javisst|absolut|gärna|visst|okej|ok|självklart|kör|"
        r"det vill jag|det låter bra|varsågod)\b"
    ),
    no=re.compile(
        r"^\s*(nej|nä|nää|nej tack|inte nu|det behövs inte|det går bra|det är bra|det är lugnt)\b"
    ),
    confused=re.compile(
        r"\b(det var inte det jag (frågade|sa|menade)|du (förstår|fattar) (inte|ingenting)|"
        r"du missförstod|det svarar inte på|jag frågade inte (om )?det|vad pratar du om)"
    ),
    fact_question=re.compile(
        r"\b(när|var|vem|vilka|vilken|vilket|hur många|hur mycket|vilket år|hur länge|vad är|"
        r"vad kostar|berätta om)\b.*\b(företaget|quillfern|grundades|grundade|grundare|"
        r"startade|historia|uppdrag|kontor\w*|huvudkontor|vd|anställda|kunder|pris\w*|kostar|"
        r"produkt\w*|appen|lanser\w*|värderingar|investerare|teamet|support\w*|öppettider)\b"
    ),
    info_question=re.compile(
        r"^(så |och |men |okej |ok |hej |ja |alltså )*(vad|när|var|vart|vem|vems|vilken|vilket|"
        r"vilka|hur många|hur mycket|hur länge|hur gammal|hur stor|varför (?!inte)|"
        r"(har|är|var|finns|fanns|gör|erbjuder|säljer|tar) (ni|du|företaget|det|de|quillfern)\b)"
        r"\b(?!.*\b(om ni|tycker|känner|idé|föreslå\w*|lägga till|kunde|borde|snälla)\b)"
    ),
    question_start=re.compile(
        r"^(så |och |men |okej |ok |hej |ja |alltså )*(vad|när|var|vart|vem|vems|hur|varför|"
        r"vilken|vilket|vilka|kan|kunde|får|ska|skulle|kommer|finns|är|har|hade|gör|gjorde|"
        r"berätta)\b"
    ),
    complaint=re.compile(
        r"\b(fel|trasig\w*|kraschar|kraschade|krasch\w*|bugg\w*|fungerar inte|funkar inte|"
        r"problem\w*|långsam\w*|seg|segt|hatar|irriter\w*|förvirr\w*|krånglig\w*|krångl\w*|"
        r"frustrer\w*|laga|saknas|fastnar|fastnade|hänger sig|hängde sig|dålig\w*|störande)\b"
    ),
    suggestion=re.compile(
        r"\b(borde|skulle kunna|kan ni lägga till|det vore (bra|bra om|fint|skönt|trevligt)|"
        r"lägg till|jag önskar|önskar|det skulle hjälpa|varför inte|vad sägs om|föreslå\w*|"
        r"förslag\w*|idé|stöd för)\b"
    ),
    praise=re.compile(
        r"\b(älskar|gillar|toppen|fantastisk\w*|jättebra|suverän\w*|utmärkt\w*|grym\w*|nöjd|"
        r"glad|hjälpsam\w*|perfekt|enkel|enkelt|smidig\w*|bra jobbat|snyggt)\b"
    ),
    negated=re.compile(r"\b(inte|aldrig|ingen|inget|ingenting|knappast|ej)\b"),
    role=re.compile(
        r"\b(vd|vd n|cto|cfo|ekonomichef\w*|teknikchef\w*|grundare\w*|medgrundare\w*|"
        r"chef för \w+|ansvarig för)\b"
    ),
    who_is="Vem är {role}?",
)

SWEDISH = Language(code="sv", lines=LINES, words=WORDS, rules=RULES)
