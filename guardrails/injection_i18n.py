"""The injection rules for other languages: overrides in each language's words, and the languages written
without spaces (Chinese, Japanese, Korean), whose rules scan for their own characters."""

from __future__ import annotations

from guardrails.rulekit import END, override, rule, scan
from guardrails.textfold import fold_pattern

# --- the same in languages written without spaces ------------------------------------------------------------------

CJK = [
    scan(
        "override",
        r"(?:忽略|无视|忽视|忘记|忘掉|不要理会|不要管|别管|抛开|放弃|不要遵守|不再遵守|无需遵守|跳过|無視|忽略掉|"
        r"不用再遵守|别再遵守|不必遵守|不必再遵守|不用遵守|抛弃|丢掉|舍弃|撇开|摒弃|丢弃|清除|删除|违背|违反|"
        r"不要再听|别再听|不要听从|停止遵守|不要服从|不再服从|忽略掉|無視して|忘れて)"
        r"[^\n。！？!?]{0,10}?(?:指令|指示|说明|规则|提示|提示词|设定|设置|要求|命令|限制|约束|规定|規則|"
        r"指引|准则|守则|方针|配置|规范|條款|规矩)",
        lambda text, m: any(
            q in m.group()
            for q in map(
                fold_pattern,
                "之前 以前 先前 此前 上面 上述 前面 所有 全部 一切 你的 原来 原有 原始 初始 系统 安全 旧的 老的 "
                "开发者 开发人员 隐藏 秘密 内部 收到的 给你的 默认 最初".split(),
            )
        ),
        spaced=False,
    ),
    scan(
        "override",
        r"(?:以前|前|上記|これまで|今まで|すべて|全て|あなたの|最初|元|システム|先ほど)の?[^\n。！？!?]{0,8}?"
        r"(?:指示|命令|ルール|指令|設定|制約|制限|プロンプト|ガイドライン|指針|方針)(?:を|は|も|に)?"
        r"[^\n。！？!?]{0,8}?(?:無視|忘れ|破棄|従わな|捨て|無効|取り消|リセット|守らな|従う必要は|守る必要は)",
        spaced=False,
    ),
    scan(
        "override",
        r"(?:이전|앞의|위의|모든|기존|시스템|너의|당신의|네|예전|원래|숨겨진|개발자)[^\n.!?]{0,24}?"
        r"(?:지시|지침|명령|규칙|프롬프트|설정|가이드라인|안내)"
        r"[^\n.!?]{0,24}?(?:무시|잊어|잊고|따르지|버려|버리고|폐기|지키지|따를 필요)",
        spaced=False,
    ),
    scan(
        "prompt_leak",
        r"(?:(?:显示|告诉我|输出|打印|泄露|透露|重复|展示|给我看|说出|告诉|给出)[^\n。！？!?]{0,6}?"
        r"(?:系统提示|系统指令|系统消息|初始指令|隐藏指令|初始提示|原始指令|提示词|秘密指令|最初的指令|"
        r"隐藏的提示|系统设定|开发者给你的|你收到的指令|你得到的指令)"
        r"|(?:你的|您的|开发者给你的|你收到的|你最初的)(?:系统提示|系统指令|初始指令|隐藏指令|提示词|指令|设定|规则)"
        r"(?:是什么|是啥|有哪些|都是什么))",
        spaced=False,
    ),
    scan(
        "prompt_leak",
        r"(?:システムプロンプト|システム指示|システムメッセージ|隠された指示|初期指示|最初の指示|あなたの指示|"
        r"秘密の指示|開発者(?:から|が)?(?:の|与えた|くれた)指示|受け取った指示|与えられた指示)"
        r"[^\n。！？!?]{0,8}?(?:表示|教え|見せ|出力|繰り返|開示|書き出|何|なに)",
        spaced=False,
    ),
    scan(
        "prompt_leak",
        r"(?:시스템 ?프롬프트|시스템 ?지시|숨겨진 ?지시|초기 ?지시)[^\n.!?]{0,24}?(?:보여|출력|알려|공개|말해)",
        spaced=False,
    ),
    scan(
        "persona",
        r"(?:你现在是|你是|现在你是|从现在开始你是|扮演)[^\n。！？!?]{0,12}?(?:没有|不受|无|摆脱)(?:任何)?"
        r"(?:限制|规则|约束|过滤|审查|道德)|(?:没有|不受)任何(?:限制|规则|约束)的(?:AI|人工智能|助手|模型)"
        r"|(?:你现在|你已经|你已|现在你)(?:处于|进入了?|在|是)[^\n。！？!?]{0,4}?开发者模式|越狱模式",
        spaced=False,
    ),
    scan(
        "persona",
        r"(?:制限|ルール|フィルター|検閲)(?:の|が)?(?:ない|なし|無い|無し)(?:AI|ai|アシスタント|モデル)"
        r"|あなたは(?:今から|これから)?[^\n。！？!?]{0,12}?(?:制限|ルール)(?:の|が)?(?:ない|なし|無い)",
        spaced=False,
    ),
]


# --- the multilingual overrides: the same shape as English, with each language's words -----------------------------

OVERRIDES = [
    override(  # French
        verbs="ignore|ignorez|ignorer|oublie|oubliez|oublier|ne tiens pas compte de|ne tiens pas compte des|"
        "ne tenez pas compte de|ne tenez pas compte des|ne tiens plus compte des|fais abstraction de|"
        "fais abstraction des|faites abstraction de|faites abstraction des|outrepasse|outrepassez|contourne|"
        "contournez|laisse tomber|annule|annulez|ne suis plus|ne suivez plus|passe outre|passez outre|n obeis plus a|"
        "n obeis plus aux|n obeissez plus a|n obeissez plus aux|laisse de cote|laissez de cote|mets de cote|"
        "mettez de cote|abandonne|abandonnez|ecarte|ecartez|efface|effacez|ne respecte plus|ne respectez plus|"
        "ne suis pas|ne suivez pas|tu n as plus a suivre|tu n as plus a respecter|tu n es plus lie par|"
        "vous n etes plus lie par|tu n es plus tenu de respecter|desobeis a|desobeissez a|jette|jetez",
        fillers="les|des|de|la|le|l|d|ces|cette|ce|ses|aux|a|du|et|ou",
        nouns="instructions|instruction|consignes|consigne|regles|regle|directives|directive|ordres|indications|"
        "commandes|prompt|prompts|restrictions|limitations|filtres|programmation|lignes directrices|parametres|"
        "garde fous|contraintes|politiques|preambule",
        quals="precedentes|precedents|precedente|anterieures|anterieurs|ci dessus|initiales|originales|systeme|toutes|"
        "tous|tes|vos|ton|votre|de securite|d avant|recues|donnees|anciennes|anciens|d origine|premieres|internes|"
        "cachees|secretes|du developpeur|des developpeurs|de tes createurs|de depart",
        post="precedentes|anterieures|ci dessus|d avant|qu on t a donnees|que tu as recues|du systeme|systeme|"
        "initiales|originales",
    ),
    override(  # Spanish
        verbs="ignora|ignore|ignorar|ignoren|olvida|olvide|olvidar|olviden|olvidate de|descarta|descarte|omite|omita|"
        "no hagas caso a|no hagas caso de|haz caso omiso de|haga caso omiso de|pasa por alto|no sigas|deja de seguir|"
        "anula|saltate|deja de lado|deje de lado|abandona|abandone|ya no sigas|ya no obedezcas|no obedezcas|"
        "desobedece|desobedezca|borra|borre|elimina|tira|olvidate de|hazle caso omiso a|ya no tienes que seguir|"
        "ya no tienes que obedecer|ya no estas obligado a seguir|no estas obligado a seguir|no cumplas|"
        "deja de obedecer",
        fillers="las|los|la|el|de|del|a|al|estas|esas|y|o|cualquier",
        nouns="instrucciones|instruccion|reglas|regla|directrices|indicaciones|ordenes|normas|pautas|restricciones|"
        "limitaciones|filtros|prompt|programacion|consignas|directivas|lineamientos|guias|configuracion|"
        "politicas|restricciones|preambulo",
        quals="anteriores|previas|previos|iniciales|originales|sistema|del sistema|todas|todos|tus|sus|tu|su|"
        "de seguridad|de arriba|anteriormente|antiguas|viejas|ocultas|secretas|internas|de los desarrolladores|"
        "recibidas|que te dieron|originales|iniciales",
        post="anteriores|previas|de arriba|que te dieron|que recibiste|del sistema|iniciales",
    ),
    override(  # German
        verbs="ignoriere|ignorier|ignorieren|ignoriert|vergiss|vergesse|vergessen|vergesst|missachte|missachten|"
        "uberspringe|uberspring|ubergehe|umgehe|umgehen|verwirf|verwerfe|setze ausser kraft|lass|ignorier|"
        "vergiss einfach|wirf|schmeiss|lege ab|leg ab|halte dich nicht mehr an|halt dich nicht mehr an|"
        "befolge nicht mehr|folge nicht mehr|gehorche nicht mehr|hor auf mit|verlass|verlasse|streiche|losche|"
        "du musst nicht mehr befolgen|du bist nicht mehr gebunden an|du bist nicht mehr an",
        fillers="die|der|den|dem|zuvor|gegebenen|erhaltenen|und|oder",
        nouns="anweisungen|anweisung|instruktionen|instruktion|regeln|regel|richtlinien|vorgaben|befehle|anordnungen|"
        "systemprompt|systemanweisungen|einschrankungen|beschrankungen|filter|programmierung|direktiven|vorschriften|"
        "leitlinien|konfiguration|vorgaben|grundsatze|richtlinie|sicherheitsrichtlinien|instruktionen",
        quals="alle|alles|deine|deinen|ihre|ihren|bisherigen|bisherige|vorherigen|vorherige|obigen|obige|fruheren|"
        "fruhere|vorangegangenen|ursprunglichen|ursprungliche|system|sicherheits|jegliche|samtliche|samtlichen|alten|"
        "alte|versteckten|geheimen|internen|gegebenen|erhaltenen|des entwicklers|der entwickler|anfanglichen",
        post="von oben|oben|zuvor|davor|bisher",
    ),
    override(  # German, verb first and "nicht" last: "Beachte die vorherigen Anweisungen nicht"
        verbs="beachte|befolge|folge|beachtet|befolgt",
        fillers="die|der|den|dem|und|oder",
        nouns="anweisungen nicht|regeln nicht|richtlinien nicht|vorgaben nicht|instruktionen nicht|"
        "anweisungen mehr nicht|anweisungen nicht mehr|regeln nicht mehr",
        quals="alle|deine|ihre|bisherigen|vorherigen|obigen|fruheren|ursprunglichen|system",
    ),
    override(  # Italian
        verbs="ignora|ignorate|ignorare|ignori|dimentica|dimenticate|dimenticare|dimentichi|trascura|trascurate|"
        "non tenere conto di|non tenere conto delle|non considerare|lascia perdere|scavalca|aggira|bypassa|"
        "non seguire piu|smetti di seguire|abbandona|abbandonate|metti da parte|mettete da parte|accantona|scarta|"
        "scartate|non obbedire|non obbedire piu|smetti di obbedire|cancella|non rispettare|non rispettare piu|"
        "non devi piu seguire|non devi piu rispettare|non sei piu vincolato da|disobbedisci a|butta via",
        fillers="le|i|gli|la|il|lo|l|delle|dei|degli|di|della|del|e|o|queste",
        nouns="istruzioni|istruzione|regole|regola|direttive|indicazioni|ordini|linee guida|restrizioni|limitazioni|"
        "filtri|prompt|programmazione|comandi|vincoli|impostazioni|politiche|configurazione|preambolo",
        quals="precedenti|precedente|iniziali|originali|sistema|di sistema|tutte|tutti|tue|tuoi|sue|sopra|"
        "di sicurezza|ricevute|vecchie|vecchi|nascoste|segrete|interne|degli sviluppatori|date|originarie|"
        "di partenza",
        post="precedenti|sopra|di sistema|ricevute|che ti sono state date|iniziali",
    ),
    override(  # Portuguese
        verbs="ignore|ignora|ignorar|ignorem|ignores|esqueca|esquece|esquecer|esquecam|desconsidere|desconsidera|"
        "desconsiderar|descarte|descarta|nao siga|nao obedeca|deixe de lado|deixa de lado|pule|passe por cima de|"
        "burle|contorne|abandone|abandona|deixe pra la|nao obedeca mais|pare de seguir|pare de obedecer|apague|"
        "apaga|jogue fora|joga fora|esquece|esqueca|voce nao precisa mais seguir|voce nao precisa mais obedecer|"
        "nao precisa mais seguir|nao esta mais preso a|desobedeca|nao siga mais|deixa pra la",
        fillers="as|os|a|o|de|das|dos|da|do|e|ou|essas",
        nouns="instrucoes|instrucao|regras|regra|diretrizes|diretivas|orientacoes|ordens|comandos|restricoes|"
        "limitacoes|filtros|prompt|programacao|normas|configuracao|politicas|orientacoes|preambulo",
        quals="anteriores|previas|iniciais|originais|sistema|todas|todos|suas|seus|tuas|teus|acima|de seguranca|"
        "recebidas|antigas|antigos|velhas|ocultas|secretas|internas|dos desenvolvedores|dadas|originais",
        post="anteriores|acima|do sistema|que voce recebeu|recebidas|iniciais",
    ),
    override(  # Dutch
        verbs="negeer|negeren|negeert|vergeet|vergeten|sla over|houd geen rekening met|hou geen rekening met|"
        "laat varen|omzeil|omzeilen|volg niet langer|volg niet meer|laat los|gooi weg|schuif opzij|zet opzij|"
        "volg niet|gehoorzaam niet|gehoorzaam niet meer|wis|verwerp|je hoeft niet meer te volgen|"
        "je bent niet meer gebonden aan|houd je niet meer aan|hou je niet meer aan",
        fillers="de|het|van|en|of|die|deze",
        nouns="instructies|instructie|regels|regel|richtlijnen|aanwijzingen|opdrachten|opdracht|bevelen|prompt|"
        "beperkingen|filters|programmering|voorschriften|systeemprompt|systeeminstructies|configuratie|"
        "beleid|afspraken",
        quals="alle|al|je|jouw|uw|eerdere|vorige|voorgaande|bovenstaande|oorspronkelijke|originele|systeem|veiligheids|"
        "oude|verborgen|geheime|interne|gegeven|ontvangen|van de ontwikkelaars",
        post="hierboven|van hierboven|hiervoor|die je hebt gekregen|die je kreeg",
    ),
    override(  # Polish
        verbs="zignoruj|ignoruj|zignorujcie|ignorujcie|zapomnij|zapomnijcie|pomiń|pomińcie|odrzuć|nie zważaj na|"
        "nie przestrzegaj|przestań przestrzegać|obejdź|nie stosuj się do|porzuć|porzućcie|olej|wyrzuć|"
        "odłóż|zostaw|nie słuchaj|przestań słuchać|nie musisz już przestrzegać|nie jesteś już związany|skasuj|usuń",
        fillers="te|tych|o|i|lub|na|do|otrzymane",
        nouns="instrukcje|instrukcji|instrukcjami|polecenia|poleceń|zasady|zasad|reguły|regul|wytyczne|wytycznych|"
        "wskazówki|wskazówek|komendy|ograniczenia|ograniczeń|filtry|prompt|prompty|rozkazy|nakazy",
        quals="wszystkie|wszystkich|wszystko|twoje|twoich|swoje|swoich|poprzednie|poprzednich|wcześniejsze|"
        "wcześniejszych|powyższe|powyższych|systemowe|systemowych|dotychczasowe|dotychczasowych|oryginalne|pierwotne|"
        "bezpieczeństwa|stare|starych|ukryte|ukrytych|tajne|tajnych|wewnętrzne|wewnętrznych|otrzymane|podane|"
        "początkowe|początkowych|od twórców|od deweloperów",
        post="powyżej|wcześniej|które otrzymałeś|które dostałeś",
    ),
    override(  # Russian
        verbs="игнорируй|проигнорируй|игнорируйте|проигнорируйте|игнорировать|забудь|забудьте|забыть|"
        "не обращай внимания на|не обращайте внимания на|пропусти|отбрось|отбросьте|отмени|отмените|не следуй|"
        "не выполняй|перестань следовать|обойди|оставь|оставьте|брось|бросьте|выкинь|выбрось|не подчиняйся|"
        "больше не следуй|не соблюдай|больше не соблюдай|сотри|удали|откажись от|ты больше не обязан соблюдать|"
        "ты больше не обязан следовать|ты больше не связан|не слушай|забей на",
        fillers="эти|этих|и|или|на|о|про|тебе|вам|данные|полученные|от|разработчиков",
        nouns="инструкции|инструкций|инструкциям|указания|указаний|правила|правил|ограничения|ограничений|директивы|"
        "директив|команды|команд|промпт|установки|установок|приказы|настройки|фильтры|запреты|рекомендации|"
        "принципы|политики|нормы|правилам|инструкциям|указаниям",
        quals="все|всех|всё|свои|твои|твоих|ваши|ваших|предыдущие|предыдущих|прежние|прежних|вышеуказанные|"
        "вышеуказанных|системные|системных|исходные|изначальные|первоначальные|ранее|выше|безопасности|старые|"
        "старых|скрытые|скрытых|секретные|секретных|внутренние|внутренних|полученные|прошлые|прошлых|"
        "от разработчиков|своим|твоим",
        post="выше|ранее|раньше|которые тебе дали|данные тебе",
    ),
]
FORGET_ALL = rule(
    "override",
    "oublie|oubliez|olvida|olvide|olvidate de|vergiss|vergesst|dimentica|dimenticate|esqueca|esquece|vergeet|"
    "zapomnij|забудь|забудьте|ignore|ignorez|ignora|ignoriere|negeer|zignoruj|игнорируй",
    r" (?:tout ce (?:qui precede|qu on t a dit|qu on vous a dit|qui est au dessus|qui est ci dessus|qui a ete dit)"
    r"|todo lo (?:anterior|que te (?:dijeron|han dicho)|de arriba)|todo lo que se te dijo|alles (?:bisherige|vorherige|"
    r"oben|was (?:dir|man dir|ihnen) (?:zuvor |vorher |bisher )?gesagt)|tutto (?:cio che|quello che) (?:ti e stato "
    r"detto|precede)|tutto quanto sopra|tutto il precedente|tudo (?:o que|que) (?:te disseram|foi dito|lhe disseram)"
    r"|tudo acima|tudo o que foi dito antes|alles (?:wat|dat) (?:je|u) (?:is|werd) (?:verteld|gezegd)|alles hierboven"
    r"|o wszystkim (?:co|powyżej|wcześniej)|wszystko (?:co|powyżej|wcześniej)|всё (?:что|выше|сказанное|предыдущее)"
    r"|все (?:что|выше|сказанное|предыдущее)|всё, что тебе)" + END,
)
