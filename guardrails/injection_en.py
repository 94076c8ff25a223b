"""The injection rules written for English, and those whose shape other languages share (personas, prompt leaks).

`DIRECT`: what a user types to take the model over. `INDIRECT`: what only reads as an attack inside data (text
addressed to the AI reading it, hidden from the user, naming a tool). `COMPACT`: rules over letters only, for text
spread out by spaces, dots or dashes, with `spread_out` telling such text from text written normally.
"""

from __future__ import annotations

import re

from guardrails.rulekit import (
    END,
    WEAK_TAIL,
    WORD,
    Rule,
    after,
    alt,
    before,
    found,
    override,
    rule,
    rx,
    scan,
    words,
)
from guardrails.textfold import fold, fold_pattern

_EN_OVERRIDE = override(
    verbs="ignore|disregard|forget|override|overrule|bypass|discard|abandon|neglect|dismiss|disobey|"
    "circumvent|set aside|put aside|throw out|throw away|stop following|stop obeying|stop adhering to|"
    "quit following|do not follow|do not obey|don t follow|don t obey|dont follow|dont obey|no longer follow|"
    "no longer obey|cease following|never mind|nevermind|erase|unlearn|ignoring|disregarding|forgetting|"
    "overriding|bypassing",
    fillers="of|the|these|those|this|that|its|current|given|content|default|other|and|or|mentioned|stated|listed|"
    "written|provided|set|s|rest of the",
    nouns="instructions|instruction|rules|rule|guidelines|guideline|directives|directive|directions|prompts|prompt|"
    "commands|orders|programming|constraints|restrictions|guardrails|filters|limitations|boundaries|"
    "safeguards|training|conditioning|configuration|system prompt|system message|guidance|ethics|principles|"
    "protocols",
    quals="previous|previously|prior|above|earlier|preceding|former|original|initial|old|existing|system|safety|"
    "ethical|moral|hidden|internal|secret|programmed|developer|developers|openai|anthropic|your|built in|preset|"
    "admin|pre set|core|base|foundational",
    weak="all|any|every|each",
    post="above|before|before this|so far|until now|up to now|up to this point|you were given|you have been given|"
    "you ve been given|you were told|you have been told|you received|you got|given to you|from your developers|"
    "from your creators|from the system|from the developer|in your system prompt|in your prompt|that came before|"
    "you follow|you must follow|you have",
)
_EN_FORGET_ALL = rule(
    "override",
    "ignore|disregard|forget|override|erase|discard",
    r" (?:everything|all|anything|whatever) (?:(?:of|the|that|which|you|have|ve|been|was|were|is|written|said|"
    r"stated|mentioned|here|up|till|until|to|this|point|so|you|re|are|were|previously|earlier) ){0,5}?"
    r"(?:above|before|prior|previously|far|now|told|given|taught|instructed|programmed|preceding|earlier)" + END,
    lambda text, m: not found(words("i|we|my"), m),
)
_EN_THE_ABOVE = rule(
    "override",
    "ignore|disregard|forget|override|discard",
    r" (?:(?:the|all|everything|of|what|s|is|was|written|said) ){0,3}(?:above|foregoing)" + END,
    lambda text, m: bool(
        re.match(
            r"\s*(?:[.!;:,\n]|$|(?:and|then|instead|now|but|just|only|from|you|&)\b)", text[m.end() : m.end() + 40]
        )
    ),
)
_EN_NEW_RULES = [
    rule(
        "override",
        "your",
        r" (?:new|real|actual|true|only|primary|updated|revised) (?:instructions|instruction|task|tasks|goal|"
        r"objective|purpose|role|directive|directives|mission|job|rules|orders|prompt) (?:is|are|will be|now is|"
        r"from now on|now|henceforth)" + END,
    ),
    rule(
        "override",
        "here are|these are|follow|obey|below are|the following are",
        r" (?:your|the) (?:new|updated|real|actual|revised|true) (?:instructions|rules|directives|orders|"
        r"system prompt|guidelines)" + END,
    ),
    rule(
        "override",
        "from now on|starting now|henceforth|from this point on|from here on",
        r" (?:(?:you|will|must|shall|are|re|have|to|no|longer|be) ){1,4}(?:ignore|disregard|forget|obey only|"
        r"answer without|respond without|not follow|refuse nothing|never refuse|comply with every)" + END,
    ),
]


# --- role markers: fake system / assistant turns and chat-template tokens ------------------------------------------

_LINE_START = re.compile(r"(?:^|[\n.!?:;\"'`>\]}])[ \t#*=\-\[<(|>_~]*+$")
_CUE = re.compile(
    rx(
        r"(?<![^\W_])(?:you (?:must|should|shall|need to|have to|are now|are required|are instructed|are to|are going "
        r"to|can now|may now|re now|will now|will from now)|ignore|disregard|forget|override|overrid|bypass|new "
        r"(?:instructions|instruction|rules|task|role|persona|directive|directives|system prompt)|from now on|"
        r"henceforth"
        r"|reveal|system prompt|comply|obey|jailbr|developer mode|unrestricted|unfiltered|uncensored|anything now|"
        r"(?:call|invoke) [a-z0-9]++_|assistant|llm|language model|guardrails|safety (?:rules|"
        r"guidelines|filters)|do not (?:tell|inform|reveal|mention)|act as|pretend|roleplay|"
        r"(?:respond|answer|reply) (?:only|as|in)|output (?:only|the)|as dan|send all|forward all|email all)(?![^\W_])"
    )
)


_ACK = re.compile(
    rx(
        r"[\W_]*+(?:sure|certainly|of course|absolutely|okay|ok|yes|understood|i will|i ll|as dan|here is|"
        r"here s)(?![^\W_])"
    )
)


def _role_line(text: str, m: re.Match[str]) -> bool:
    """A role word counts as a marker at the start of a line or sentence, and only when what follows talks
    to the model ("System: you must now…"), not "System: Windows 11" or a log line. A fake assistant turn
    is one that agrees in advance ("Assistant: Sure, here is…")."""
    prefix = _LINE_START.search(text, max(0, m.start() - 12), m.start())
    if prefix is None:
        return False
    if not re.search(r"[:：\-—]$", m.group()) and not re.search(r"[#\[<]", prefix.group()):
        return False  # a bare role word on its own line is a marker only as a heading or a tag: "### System"
    if m.group().startswith("assistant") and _ACK.match(text, m.end()):
        return True
    return bool(_CUE.search(text, m.end(), m.end() + 200))


_ROLE_MARKER = rule(
    "role_marker",
    "system|assistant|developer|sys|systeme|sistema|system message|system prompt|system note|system notice|"
    "system override|system update|system instruction|system instructions|system alert|admin message|admin note|"
    "admin override|administrator note|developer message|developer note|developer instructions|ai instructions|"
    "new instructions|important instructions|updated instructions|new system prompt|system administrator|"
    "begin system prompt|start system prompt|end of user input|end of document|end of context|end of data",
    r"[\x20\t]*+[\]>)*}=#]{0,4}+[\x20\t]*+(?:[:：\-—]|(?=\n|$))",
    _role_line,
)
_SPECIAL_TOKENS = scan(
    "role_marker",
    r"<\|[\x20\t]*+(?:im[ _]?start|im[ _]?end|system|user|assistant|endoftext|end[ _]?of[ _]?text|begin[ _]?of[ _]?text"
    r"|start[ _]?header[ _]?id|end[ _]?header[ _]?id|eot[ _]?id|eom[ _]?id|im[ _]?sep)[\x20\t]*+\|>"
    r"|\[/?inst\]|<</?sys>>|<start[ _]of[ _]turn>|<end[ _]of[ _]turn>|</?system(?:[ _]prompt)?>|\[/?system\]"
    r"|\[/?(?:sys|system) ?(?:prompt|message)\]",
    spaced=False,
)


# --- personas: developer mode, DAN, "an AI with no rules" ----------------------------------------------------------

_AI = (
    "ai|a i|assistant|model|chatbot|chat bot|bot|llm|gpt|chatgpt|language model|version of yourself|version of you|"
    "version of chatgpt|persona|character|entity|intelligence|alter ego|self|ia|ki|mode"
)
_PERSONA = [
    rule(
        "persona",
        "unrestricted|unfiltered|uncensored|unmoderated|unshackled|unchained|jailbroken|jailbreak|amoral|unaligned|"
        "limitless|rule free|rulefree|no limits|no rules|no restrictions|no filters|no filter|unleashed|dan|"
        "no holds barred|anything goes",
        f" (?:[^\\W_]++ )?{alt(_AI)}{END}",
        lambda text, m: not re.match(r"[\W_]*+(?:from|in|at|of|said|asked|wants|wrote|sent)\b", after(text, m)),
    ),
    rule(
        "persona",
        "evil|rogue|unethical|immoral|unbound|liberated|freed|uncontrolled|malicious|dark side",
        r" (?:[^\W_]++ )?(?:ai|assistant|chatbot|llm|gpt|chatgpt|language model|version of yourself|version of you|"
        r"mode|ai model)" + END,
    ),
    rule(
        "persona",
        "you|from now on you|now you",
        r" (?:are|re|will be|shall be|have become|become|must act as|must be|are going to be|will act as) "
        r"(?:(?:now|officially|hereby|henceforth|from now on|truly|finally|completely|totally|fully|no longer an ai "
        r"but) ){0,2}(?:(?:an|a|the|my) )?(?:[^\W_]++ ){0,2}?(?:unrestricted|unfiltered|uncensored|jailbroken|unbound|"
        r"unshackled|unchained|freed|liberated|limitless|amoral|unaligned|dan|free from (?:all |any |your )?(?:rules|"
        r"restrictions|limits|guidelines|filters|constraints|programming)|free of (?:all |any |your )?(?:rules|"
        r"restrictions|limits|guidelines|filters|constraints)|no longer bound|not bound|no longer restricted|not "
        r"restricted|no longer limited|no longer an ai|able to do anything|capable of anything|allowed to do anything|"
        r"allowed to say anything|without limits|without restrictions|without rules|without filters|beyond your "
        r"programming|in developer mode|in dan mode|in jailbreak mode|in god mode|an evil ai|evil)" + END,
    ),
]

_NO = (
    "no|without|zero|free of|free from|not bound by|unbound by|not restricted by|not limited by|no longer bound by|"
    "no longer restricted by|sans|aucune|sin|ninguna|ohne|keine|senza|nessuna|sem|nenhuma|zonder|geen|bez|без|никаких"
)
_RULEWORDS = (
    "rules|restrictions|limits|limitations|filters|filtering|guidelines|censorship|ethics|ethical|morals|moral|"
    "safety|content policy|content policies|boundaries|guardrails|constraints|principles|regles|restrictions|limites|"
    "filtres|restricciones|reglas|filtros|limites|einschrankungen|regeln|grenzen|filter|beschrankungen|restrizioni|"
    "regole|limiti|filtri|restricoes|regras|beperkingen|regels|filters|grenzen|ograniczen|zasad|filtrow|ограничений|"
    "правил|фильтров|цензуры"
)
_SELF = re.compile(
    rx(
        r"(?<![^\W_])(?:you (?:are|re|have|ve|will|can now|now|must|should|no longer|were|become)|yourself|act|acting|"
        r"pretend|pretending|behave|roleplay|role play|simulate|ai|assistant|chatbot|llm|gpt|chatgpt|persona|character|"
        r"dan|tu es|tu as|vous etes|eres|ahora eres|tienes|du bist|du hast|sei|hai|voce e|tu e|je bent|jij bent|"
        r"jestes|ты|вы|ии|ia|ki|modele|modelo|modell|modello|assistente|asystent|ассистент|модель|model|bot|mode|"
        r"respond|answer|reply|replies|responses|operate)(?![^\W_])"
    )
)
_WEAK_SELF = words("model|bot|mode|respond|answer|reply|replies|responses|operate|you have|you ve")


def _about_self(text: str, m: re.Match[str]) -> bool:
    """Whether "with no rules" makes a persona: only when the sentence before it is about the model ("you are…",
    "act as…"); a weak cue ("a model", "answer") does not count when a complement follows ("no limits on returns")."""
    cues = [c.group() for c in _SELF.finditer(before(text, m, 100))]
    if not cues:
        return False
    strong = any(" ".join(WORD.findall(c)) not in _WEAK_SELF for c in cues)
    return strong or not WEAK_TAIL.match(text, m.end())


_NO_RULES = rule("persona", _NO, f" (?:[^\\W_]++ ){{0,2}}?{alt(_RULEWORDS)}{END}", _about_self)

_DEV_CUE = re.compile(
    rx(
        r"(?<![^\W_])(?:chatgpt|ai|ia|ki|assistant|language model|llm|gpt|simulate|pretend|act as|you (?:are|re) "
        r"(?:now )?in|your (?:responses|answers|output|replies)|two (?:responses|answers|paragraphs)|uncensored|"
        r"unrestricted|unfiltered|no (?:rules|restrictions|filters|limits|censorship)|without (?:any )?(?:rules|"
        r"restrictions|filters|limits|censorship)|content polic|openai|ethic|policies|tu es|du bist|eres|ты)(?![^\W_])"
    )
)
_DEVELOPER_MODE = rule(
    "persona",
    "developer mode|dev mode|god mode|mode developpeur|mode developer|modo desarrollador|modo de desarrollador|"
    "entwicklermodus|entwickler modus|modalita sviluppatore|modalita developer|modo desenvolvedor|"
    "modo de desenvolvedor|ontwikkelaarsmodus|ontwikkelaarmodus|tryb dewelopera|tryb programisty|"
    "режим разработчика",
    END,
    lambda text, m: bool(_DEV_CUE.search(text, max(0, m.start() - 150), m.end() + 150)),
)
_DAN = [
    rule(
        "persona",
        "act as|acting as|pretend to be|pretend you are|you are|you re|you will be|become|role of|called|named|"
        "known as|persona of|stay in character as|respond as|answer as|reply as|speak as|hello|hi|hey",
        r" (?:(?:now|a|an|the) ){0,2}dan" + END,
        lambda text, m: (
            not re.match(
                r"[\W_]*+(?:from|in|at|of|said|asked|wants|wrote|sent|s|and|called|is|was|"
                r"will|can|has|had|who|smith|jones|brown)\b",
                after(text, m),
            )
        ),
    ),
    rule("persona", "dan", r" (?:mode|prompt|jailbreak)" + END),
    rule(
        "persona",
        "dan",
        r" (?:[^\W_]++ ){0,4}?(?:jailbr[^\W_]*+|no (?:rules|restrictions|limits|filters)|unrestricted|unfiltered|"
        r"anything now|broken free|free from)" + END,
    ),
    rule("persona", "stands for|which means|acronym for|short for", r" (?:[\W_]*+)do anything now" + END),
    rule(
        "persona",
        "jailbreak|jailbroken|jailbreaking",
        r" (?:[^\W_]++ )?(?:mode|ai|assistant|model|chatbot|"
        r"chatgpt|gpt|llm|prompt|persona|version|successful|enabled|activated)" + END,
    ),
]


# --- prompt leak: print the system prompt, the hidden instructions, the keys ---------------------------------------

_SYS_STRONG = (
    "system prompt|system prompts|system message|system instructions|system instruction|system directives|"
    "system rules|system configuration|hidden prompt|hidden instructions|hidden rules|hidden message|secret prompt|"
    "secret instructions|secret rules|initial prompt|initial instructions|original prompt|original instructions|"
    "starting prompt|first prompt|base prompt|pre prompt|preprompt|meta prompt|metaprompt|developer prompt|"
    "developer message|developer instructions|internal prompt|internal instructions|internal rules|"
    "internal guidelines|custom instructions|confidential instructions|prompt you were given|"
    "instructions you were given|instructions you have been given|instructions you ve been given|"
    "rules you were given|rules you follow|rules you must follow|guidelines you follow|guidelines you were given|"
    "prompt above|instructions above|text above|words above|everything above|all text above|"
    "system context|hidden context|prompt systeme|prompt du systeme|prompt del sistema|instrucciones del sistema|"
    "systemprompt|system anweisungen|systemanweisungen|prompt di sistema|istruzioni di sistema|prompt do sistema|"
    "prompt de sistema|instrucoes do sistema|systeemprompt|systeem prompt|systeeminstructies|prompt systemowy|"
    "instrukcje systemowe|системный промпт|системные инструкции|системное сообщение|системную подсказку|"
    "скрытые инструкции|исходные инструкции|instructions systeme|instructions cachees|instructions initiales|"
    "instrucciones ocultas|instrucciones iniciales|versteckten anweisungen|geheimen anweisungen|"
    "ursprunglichen anweisungen|istruzioni nascoste|istruzioni iniziali|instrucoes ocultas|instrucoes iniciais|"
    "verborgen instructies|geheime instructies|oorspronkelijke instructies|ukryte instrukcje|poczatkowe instrukcje"
)
_SYS_WEAK = (
    "instructions|instruction|prompt|rules|guidelines|directives|programming|configuration|config|context|"
    "training data|prompts|consignes|instrucciones|anweisungen|istruzioni|instrucoes|instructies|instrukcje|инструкции"
)
_MODERATE = words("initial|original|first|starting|base")
_PREPOSITION_OBJECT = re.compile(
    # "above this line" points at the conversation itself, so it is no object
    rx(
        r"[\x20\t]++(?:the|a|an|my|your|this|that|each|every|it|our|his|her|their)(?![^\W_])"
        r"(?<!this)|[\x20\t]++this (?!line|message|point|sentence|text|prompt|request)"
    )
)
_LEAK_TAIL = re.compile(
    rx(
        r"[\W_]*+(?:for|on|about|regarding|around|when|if|to|concerning|in case|of|from the|from my|from our|in the)"
        r"(?![^\W_])"
    )
)
_POSSESSIVE_SRC = (
    "your|yours|ton|ta|tes|votre|vos|tu|tus|su|sus|dein|deine|deinen|deiner|ihre|ihren|tuo|tua|tue|tuoi|seu|sua|"
    "seus|suas|teu|je|jouw|uw|twoj|twoje|twoja|twoich|твой|твои|твою|ваш|ваши"
)
_POSSESSIVE = words(_POSSESSIVE_SRC)
_DETERMINER = _POSSESSIVE_SRC + "|its|this|the|le|la|les|el|los|las|den|die|il|o|a|os|as|de|het"
_SYS_STRONG_RE = re.compile(rx(alt(_SYS_STRONG)))


def _leak(text: str, m: re.Match[str]) -> bool:
    """A strong name ("system prompt") leaks as it stands; a plain one ("instructions") only as "your
    instructions", and not "your rules for returns" or "the original instructions for the router"."""
    sys_name = m.group("sys")
    if sys_name.endswith("above") and _PREPOSITION_OBJECT.match(text, m.end()):
        return False  # "the text above the signature line"
    strong = _SYS_STRONG_RE.fullmatch(sys_name) is not None
    if strong and not found(_MODERATE, m):
        return True
    if not strong and not found(_POSSESSIVE, m):
        return False
    return not _LEAK_TAIL.match(text, m.end())


_LEAK_VERBS = (
    "reveal|show|print|display|output|repeat|recite|tell|give|share|disclose|leak|dump|expose|write out|spell out|"
    "list|echo|paste|copy|type out|read out|read back|return|provide|send|email|reproduce|regurgitate|print out|"
    "revele|revelez|montre|montrez|affiche|affichez|donne|donnez|dis|dites|repete|repetez|imprime|ecris|communique|"
    "divulgue|partage|revela|revelame|muestra|muestrame|imprime|dime|di|repite|ensena|ensename|comparte|escribe|"
    "dame|zeige|zeig|gib|nenne|verrate|wiederhole|drucke|schreibe|teile|offenbare|rivela|rivelami|mostra|mostrami|"
    "stampa|dimmi|ripeti|scrivi|condividi|dammi|revele|mostre|imprima|diga|repita|escreva|compartilhe|me mostre|"
    "me diga|toon|laat zien|geef|herhaal|onthul|vertel|deel|schrijf|pokaz|ujawnij|wypisz|powtorz|podaj|wyswietl|"
    "napisz|zdradz|покажи|выведи|раскрой|напиши|повтори|скажи|дай|расскажи|распечатай|озвучь"
)
_LEAK_FILL = (
    "me|us|all|of|the|full|entire|complete|whole|exact|exactly|verbatim|word for word|back|out|again|everything in|"
    "contents|content|text|copy|raw|current|original|what|is|in|moi|le|la|les|du|de|mir|den|die|das|deinen|me|el|"
    "los|las|del|mi|il|lo|o|a|os|as|do|da|het|de|mnie|mi|мне|весь|полностью|dokladnie|completo|completa|"
    "integralement|vollstandig|volledig|intero|integro"
)
_PROMPT_LEAK = [
    rule(
        "prompt_leak",
        _LEAK_VERBS,
        f" (?:{alt(_LEAK_FILL)} ){{0,6}}?(?:{alt(_DETERMINER)} )?"
        f"(?:[^\\W_]++ )?(?P<sys>{alt(_SYS_STRONG + '|' + _SYS_WEAK)}){END}",
        _leak,
    ),
    rule(
        "prompt_leak",
        "what|whats|what s|quel|quelle|quels|quelles|cual|cuales|was|welche|welches|qual|quali|quais|wat|jaki|jakie|"
        "какой|какие|каков",
        f" (?:(?:is|are|was|were|s|sont|est|es|son|ist|sind|e|sono|sao|zijn|jest|sa) ){{0,2}}"
        f"(?:(?:in|exactly|actually|precisely|then|again|exactement|exactamente|genau|esattamente|exatamente) )?"
        f"{alt(_POSSESSIVE_SRC)} (?:[^\\W_]++ ){{0,2}}?(?P<sys>{alt(_SYS_STRONG + '|' + _SYS_WEAK)}){END}",
        _leak,
    ),
    rule(
        "prompt_leak",
        "repeat|print|output|copy|echo|recite|reproduce|show|display|write|return|type",
        r" (?:(?:me|back|out|the|all|of|everything|exactly|verbatim|word for word) ){0,4}(?:(?:text|words|content|"
        r"contents|message|messages|lines|sentences|instructions|prompt|everything|all) ){1,2}?(?:above|before this|"
        r"preceding|prior to this|so far|at the start|at the beginning|at the top)" + END,
        lambda text, m: not _PREPOSITION_OBJECT.match(text, m.end()),  # "the text above the signature line"
    ),
]

_NEGATED = re.compile(rx(r"(?<![^\W_])(?:not|never|don t|dont|won t|cannot|can t|no one should|nobody should)[\W_]++$"))
_CRED = (
    "api keys|api key|apikey|apikeys|secret keys|secret key|access keys|access key|access tokens|access token|"
    "auth tokens|auth token|authentication tokens|bearer token|bearer tokens|tokens|credentials|password|passwords|"
    "private keys|private key|env vars|environment variables|env variables|secrets|connection strings|"
    "connection string|dsn|keys|env file|cles api|cle api|claves api|clave api|api schlussel|api schlussel|"
    "mots de passe|contrasenas|passworter|passwort|ключи api|пароли|секреты"
)
_CRED_PLAIN_TAIL = re.compile(
    rx(
        r"[\W_]*+(?:policy|policies|requirements|rules|reset|length|page|settings|manager|strength|change|expiry|"
        r"format|documentation|docs|rotation|guide|section|field|recovery|hint|i|we|for my|for the|on my|of my)"
        r"(?![^\W_])"
    )
)
_CRED_OWNER = words(
    "your|all|any|every|openai|anthropic|admin|administrator|root|system|database|db|server|aws|"
    "stripe|smtp|production|prod|master|service|internal|tes|vos|tus|sus|deine|deinen|ihre|tuoi|"
    "tue|suas|seus|je|jouw|twoje|твои|ваши"
)
_CRED_WHERE = re.compile(
    rx(
        r"[\W_]*+(?:you (?:have|use|hold|were given|know|can see|stored|are using|have access to)|in your|stored|"
        r"configured|from your|of this (?:system|server|assistant|deployment)|in (?:the|this) (?:environment|config|"
        r"system prompt|prompt|context))(?![^\W_])"
    )
)


def _credential(text: str, m: re.Match[str]) -> bool:
    """Keys and passwords asked of the model ("your API key", "the credentials stored in your environment"),
    not advice ("do not share your password") or a question about them ("your password policy")."""
    if _CRED_PLAIN_TAIL.match(text, m.end()) or _NEGATED.search(before(text, m, 20)):
        return False
    return found(_CRED_OWNER, m) or bool(_CRED_WHERE.match(text, m.end()))


_CREDENTIALS = rule(
    "prompt_leak",
    _LEAK_VERBS + "|what is|what are|whats|what s|read|spell",
    f" (?:(?:me|us|all|of|the|your|any|every|full|stored|saved|current|raw|value|values|real|actual|moi|les|tes|vos|"
    f"mir|alle|deine|me|todas|las|tus|tutte|le|tue|todas|as|suas|alle|je|wszystkie|twoje|мне|все|твои) ){{0,5}}?"
    f"(?:(?:openai|anthropic|admin|administrator|root|secret|private|internal|system|database|db|server|aws|stripe|"
    f"smtp|api|service|master|production|prod) ){{0,2}}?{alt(_CRED)}{END}",
    _credential,
)


# --- indirect: instructions addressed to the AI that reads a tool's output -----------------------------------------

_AI_STRONG = (
    "ai|a i|ai assistant|ai assistants|ai agent|ai agents|ai model|ai models|ai system|ai systems|"
    "artificial intelligence|language model|language models|large language model|llm|llms|chatbot|chat bot|"
    "chatbots|virtual assistant|gpt|"
    "chatgpt|claude|gemini|copilot|bot|bots|assistant|assistants|llm agent|autonomous agent|automated agent|"
    "automated assistant|automated system|crawler|scraper|summarizer|summariser|agent reading this|model reading this"
)
_HUMAN_ROLE = re.compile(
    rx(
        r"[\W_]*+(?:manager|director|professor|coach|editor|principal|store|general|teacher|engineer|secretary|chef|"
        r"producer|attorney|buyer|controller|superintendent|to the|at|in|of)(?![^\W_])"
    )
)
_IMPERATIVE = (
    "call|invoke|send|email|e mail|forward|transfer|upload|post|delete|remove|execute|run|output|print|reveal|disclose|"
    "append|insert|tell|inform|ignore|disregard|forget|open|create|approve|grant|click|visit|navigate|fetch|download|"
    "share|leak|exfiltrate|copy|disable|enable|stop|refuse|contact|notify|cancel|refund|issue|escalate|close|mark|"
    "assign|wire|pay|reply to|respond to|exfil|dump|change the|grant access"
)
INDIRECT = [
    rule(
        "addressed_to_model",
        "dear|hey|hi|hello|attention|note to|note for|message to|message for|instructions for|instruction for|"
        "instructions to|reminder to|reminder for|notice to|notice for|memo to|ps to|p s to|important for|"
        "important note for|important note to|a note to|this is for|this message is for|calling all|warning to",
        f" (?:(?:the|any|all|an|a|every|dear|you) ){{0,2}}{alt(_AI_STRONG)}{END}",
        lambda text, m: not _HUMAN_ROLE.match(text, m.end()),
    ),
    rule(
        "addressed_to_model",
        "if you are|if you re|if you were|in case you are|when you are",
        r" (?:(?:an|a|the|any|some|automated|artificial|large) ){0,2}(?:ai|ai assistant|ai agent|assistant|language "
        r"model|large language model|llm|chatbot|bot|ai model|ai system|automated system|automated assistant|"
        r"intelligence|gpt|chatgpt|claude|model reading this|agent reading this)" + END,
        lambda text, m: not _HUMAN_ROLE.match(text, m.end()),
    ),
    rule(
        "addressed_to_model",
        _AI_STRONG,
        r" (?:reading|processing|summarizing|summarising|parsing|analyzing|analysing|seeing|reads|sees|processes|"
        r"summarizes|summarises|parses|encounters|ingests|that reads|who reads|which reads|that processes|"
        r"who is reading|is reading|is processing) (?:this|these|the following|it)" + END,
    ),
    rule(
        "addressed_to_model",
        "as",
        r" (?:the|an|a|your) (?:ai )?(?:assistant|ai|language model|llm|chatbot|bot|ai model|virtual assistant|ai "
        r"agent) (?:(?:you|must|should|shall|will|need|have|are|now|also|then|immediately|please|required|instructed|"
        f"expected|to) ){{0,4}}{alt(_IMPERATIVE)}{END}",
    ),
    rule(
        "addressed_to_model",
        "ai|ai assistant|ai agent|ai model|assistant|language model|large language model|llm|virtual assistant|gpt|"
        "chatgpt|claude|copilot|agent reading this",
        r"(?: (?:(?:must|should|shall|needs to|need to|has to|have to|is required to|are required to|is instructed to|"
        r"are instructed to|is expected to|is supposed to|is to|are to|ought to) )(?:(?:now|also|then|immediately|"
        r"please|always|instead|only|first) ){0,2}|[\x20\t]*+[:,][\x20\t]*+(?:please )?)"
        f"{alt(_IMPERATIVE)}{END}",
    ),
    rule(
        "hidden_from_user",
        "do not|don t|dont|never|must not|should not",
        r" (?:tell|inform|notify|alert|let|mention this to|mention it to|reveal this to|reveal it to|show this to|"
        r"show it to|ask|confirm with|disclose this to|disclose to|report this to) the user" + END,
    ),
    rule(
        "hidden_from_user",
        "keep|hide",
        r" (?:this|it|these instructions|the following|this message|this action) (?:(?:secret|hidden|confidential) )?"
        r"from the user" + END,
    ),
    rule(
        "hidden_from_user",
        "the user",
        r" (?:must|should|will|shall|need|needs) (?:not|never) (?:know|see|be told|find out|notice|learn)" + END,
    ),
    rule(
        "hidden_from_user",
        "silently|secretly|quietly|covertly|without telling the user",
        r" (?:call|invoke|send|email|forward|transfer|upload|post|copy|exfiltrate|leak|share|add|include|append|bcc|"
        r"cc|delete)" + END,
        lambda text, m: bool(
            re.search(r"(?:^|[.!?:;,\n]|must|should|please|then|also|and|to)\s*$", before(text, m, 20))
        ),
    ),
    rule(
        "tool_call",
        "call|invoke|trigger|execute|run|use",
        r"[\x20\t]++(?:the[\x20\t]++)?[`'\"]?[a-z0-9]++_[a-z0-9_]++(?P<hook>[\x20\t]++(?:tool|function|action)(?![^\W_]))?",
        lambda text, m: m.group("hook") is not None or m.group().startswith(("caii", "invoke")),
    ),
]


# --- compact: letters only, for text spread out by spaces, dots or dashes ------------------------------------------

COMPACT = [
    Rule(
        "override",
        re.compile(
            fold_pattern(
                r"(?:ignore|disregard|forget|override|bypass|skip|discard|neglect|dismiss|disobey|overrule)"
                r"(?:all|any|every|of|the|your|these|those){0,3}"
                r"(?:previous|prior|above|earlier|preceding|former|original|initial|system|safety|existing|your){1,3}"
                r"(?:instructions?|rules|guidelines|directives|prompts?|commands|directions|programming|constraints|"
                r"restrictions|guardrails)"
            )
        ),
        frozenset(),
    ),
    Rule(
        "prompt_leak",
        re.compile(
            fold_pattern(
                r"(?:reveal|print|show|output|repeat|display|leak|dump|tell|give|disclose|share)(?:me|us)?"
                r"(?:all|of|the|your|full|entire|complete|whole|exact){0,3}(?:systemprompt|systemmessage|"
                r"systeminstructions|hiddeninstructions|hiddenprompt|secretinstructions|initialprompt|originalprompt|"
                r"preprompt|metaprompt|developermessage|developerprompt|internalinstructions)"
                r"|(?:reveal|print|show|output|display|leak|dump|tell|give|disclose|share)(?:me|us)?(?:all|of){0,2}"
                r"your(?:apikeys?|secretkeys?|credentials|secrets|accesstokens?|envvars|environmentvariables)"
            )
        ),
        frozenset(),
    ),
    Rule(
        "persona",
        re.compile(
            fold_pattern(
                r"standsfordoanythingnow|youarenow(?:an?|the)?(?:unrestricted|unfiltered|uncensored|jailbroken|dan|"
                r"limitless|amoral)|jailbr(?:oken|eak)(?:mode|assistant|chatgpt)|(?:unrestricted|unfiltered|"
                r"uncensored)(?:ai(?![a-z])|assistant|chatbot|mode)"
            )
        ),
        frozenset(),
    ),
]

# Every word the compact rules are made of. A compact match whose words are all whole words of this list was
# written normally, and the word-level rules (with their validators) have already judged it; one holding a
# fragment ("ig", "nore", a lone letter) was spread out to dodge them.
COMPACT_LEXICON = words(
    "ignore|disregard|forget|override|bypass|skip|discard|neglect|dismiss|disobey|overrule|all|any|every|of|the|"
    "your|these|those|previous|prior|above|earlier|preceding|former|original|initial|system|safety|existing|"
    "instructions|instruction|rules|guidelines|directives|prompts|prompt|commands|directions|programming|"
    "constraints|restrictions|guardrails|reveal|print|show|output|repeat|display|leak|dump|tell|give|disclose|share|"
    "me|us|full|entire|complete|whole|exact|message|hidden|secret|developer|internal|pre|meta|api|keys|key|secrets|"
    "credentials|access|tokens|token|env|vars|environment|variables|stands|for|do|anything|now|you|are|an|a|"
    "unrestricted|unfiltered|uncensored|jailbroken|jailbreak|dan|limitless|amoral|mode|assistant|chatgpt|ai|chatbot"
)


def spread_out(source: str) -> bool:
    return any(w not in COMPACT_LEXICON for w in WORD.findall(fold(source).text))


DIRECT = [
    _EN_OVERRIDE,
    _EN_FORGET_ALL,
    _EN_THE_ABOVE,
    *_EN_NEW_RULES,
    _ROLE_MARKER,
    _SPECIAL_TOKENS,
    *_PERSONA,
    _NO_RULES,
    _DEVELOPER_MODE,
    *_DAN,
    *_PROMPT_LEAK,
    _CREDENTIALS,
]
