"""The injection rules for other languages: overrides in each language's words, and the languages written
without spaces (Chinese, Japanese, Korean), whose rules scan for their own characters."""

from __future__ import annotations

from guardrails.rulekit import END, override, rule, scan
from guardrails.textfold import fold_pattern

# --- the same in languages written without spaces ------------------------------------------------------------------

CJK = [
    scan(
        "override",
        r"(?:忽略|无视|忽视|忘记|忘掉|不要理会|不要管|别管|抛开|放弃|不要遵守|不再遵守|无需遵守|跳过|無視|忽略掉)"
        r"[^\n。！？!?]{0,10}?(?:指令|指示|说明|规则|提示|提示词|设定|设置|要求|命令|限制|约束|规定|規則)",
        lambda text, m: any(
            q in m.group()
            for q in map(
                fold_pattern,
                "之前 以前 先前 此前 上面 上述 前面 所有 全部 一切 你的 原来 原有 原始 初始 系统 安全".split(),
            )
        ),
        spaced=False,
    ),
    scan(
        "override",
        r"(?:以前|前|上記|これまで|今まで|すべて|全て|あなたの|最初|元|システム|先ほど)の?[^\n。！？!?]{0,8}?"
        r"(?:指示|命令|ルール|指令|設定|制約|制限|プロンプト|ガイドライン)(?:を|は|も)?[^\n。！？!?]{0,6}?"
        r"(?:無視|忘れ|破棄|従わな)",
        spaced=False,
    ),
    scan(
        "override",
        r"(?:이전|앞의|위의|모든|기존|시스템|너의|당신의)[^\n.!?]{0,24}?(?:지시|지침|명령|규칙|프롬프트|설정)"
        r"[^\n.!?]{0,24}?(?:무시|잊어|잊고|따르지)",
        spaced=False,
    ),
    scan(
        "prompt_leak",
        r"(?:(?:显示|告诉我|输出|打印|泄露|透露|重复|展示|给我看|说出|告诉|给出)[^\n。！？!?]{0,6}?"
        r"(?:系统提示|系统指令|系统消息|初始指令|隐藏指令|初始提示|原始指令|提示词)"
        r"|(?:你的|您的)(?:系统提示|系统指令|初始指令|隐藏指令|提示词|指令)是什么)",
        spaced=False,
    ),
    scan(
        "prompt_leak",
        r"(?:システムプロンプト|システム指示|システムメッセージ|隠された指示|初期指示|最初の指示|あなたの指示)"
        r"[^\n。！？!?]{0,6}?(?:表示|教え|見せ|出力|繰り返|開示|書き出)",
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
        "contournez|laisse tomber|annule|annulez|ne suis plus|ne suivez plus|passe outre|passez outre|n obeis plus a",
        fillers="les|des|de|la|le|l|d|ces|cette|ce|ses|aux|a|du|et|ou",
        nouns="instructions|instruction|consignes|consigne|regles|regle|directives|directive|ordres|indications|"
        "commandes|prompt|prompts|restrictions|limitations|filtres|programmation",
        quals="precedentes|precedents|precedente|anterieures|anterieurs|ci dessus|initiales|originales|systeme|toutes|"
        "tous|tes|vos|ton|votre|de securite|d avant|recues|donnees",
        post="precedentes|anterieures|ci dessus|d avant|qu on t a donnees|que tu as recues|du systeme|systeme|"
        "initiales|originales",
    ),
    override(  # Spanish
        verbs="ignora|ignore|ignorar|ignoren|olvida|olvide|olvidar|olviden|olvidate de|descarta|descarte|omite|omita|"
        "no hagas caso a|no hagas caso de|haz caso omiso de|haga caso omiso de|pasa por alto|no sigas|deja de seguir|"
        "anula|saltate",
        fillers="las|los|la|el|de|del|a|al|estas|esas|y|o|cualquier",
        nouns="instrucciones|instruccion|reglas|regla|directrices|indicaciones|ordenes|normas|pautas|restricciones|"
        "limitaciones|filtros|prompt|programacion|consignas",
        quals="anteriores|previas|previos|iniciales|originales|sistema|del sistema|todas|todos|tus|sus|tu|su|"
        "de seguridad|de arriba|anteriormente",
        post="anteriores|previas|de arriba|que te dieron|que recibiste|del sistema|iniciales",
    ),
    override(  # German
        verbs="ignoriere|ignorier|ignorieren|ignoriert|vergiss|vergesse|vergessen|vergesst|missachte|missachten|"
        "uberspringe|uberspring|ubergehe|umgehe|umgehen|verwirf|verwerfe|setze ausser kraft|lass",
        fillers="die|der|den|dem|zuvor|gegebenen|erhaltenen|und|oder",
        nouns="anweisungen|anweisung|instruktionen|instruktion|regeln|regel|richtlinien|vorgaben|befehle|anordnungen|"
        "systemprompt|systemanweisungen|einschrankungen|beschrankungen|filter|programmierung|direktiven|vorschriften",
        quals="alle|alles|deine|deinen|ihre|ihren|bisherigen|bisherige|vorherigen|vorherige|obigen|obige|fruheren|"
        "fruhere|vorangegangenen|ursprunglichen|ursprungliche|system|sicherheits|jegliche|samtliche|samtlichen",
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
        "non seguire piu|smetti di seguire",
        fillers="le|i|gli|la|il|lo|l|delle|dei|degli|di|della|del|e|o|queste",
        nouns="istruzioni|istruzione|regole|regola|direttive|indicazioni|ordini|linee guida|restrizioni|limitazioni|"
        "filtri|prompt|programmazione|comandi",
        quals="precedenti|precedente|iniziali|originali|sistema|di sistema|tutte|tutti|tue|tuoi|sue|sopra|"
        "di sicurezza|ricevute",
        post="precedenti|sopra|di sistema|ricevute|che ti sono state date|iniziali",
    ),
    override(  # Portuguese
        verbs="ignore|ignora|ignorar|ignorem|ignores|esqueca|esquece|esquecer|esquecam|desconsidere|desconsidera|"
        "desconsiderar|descarte|descarta|nao siga|nao obedeca|deixe de lado|deixa de lado|pule|passe por cima de|"
        "burle|contorne",
        fillers="as|os|a|o|de|das|dos|da|do|e|ou|essas",
        nouns="instrucoes|instrucao|regras|regra|diretrizes|diretivas|orientacoes|ordens|comandos|restricoes|"
        "limitacoes|filtros|prompt|programacao|normas",
        quals="anteriores|previas|iniciais|originais|sistema|todas|todos|suas|seus|tuas|teus|acima|de seguranca|"
        "recebidas",
        post="anteriores|acima|do sistema|que voce recebeu|recebidas|iniciais",
    ),
    override(  # Dutch
        verbs="negeer|negeren|negeert|vergeet|vergeten|sla over|houd geen rekening met|hou geen rekening met|"
        "laat varen|omzeil|omzeilen|volg niet langer|volg niet meer",
        fillers="de|het|van|en|of|die|deze",
        nouns="instructies|instructie|regels|regel|richtlijnen|aanwijzingen|opdrachten|opdracht|bevelen|prompt|"
        "beperkingen|filters|programmering|voorschriften|systeemprompt|systeeminstructies",
        quals="alle|al|je|jouw|uw|eerdere|vorige|voorgaande|bovenstaande|oorspronkelijke|originele|systeem|veiligheids",
        post="hierboven|van hierboven|hiervoor|die je hebt gekregen|die je kreeg",
    ),
    override(  # Polish
        verbs="zignoruj|ignoruj|zignorujcie|ignorujcie|zapomnij|zapomnijcie|pomiń|pomińcie|odrzuć|nie zważaj na|"
        "nie przestrzegaj|przestań przestrzegać|obejdź|nie stosuj się do",
        fillers="te|tych|o|i|lub|na|do|otrzymane",
        nouns="instrukcje|instrukcji|instrukcjami|polecenia|poleceń|zasady|zasad|reguły|regul|wytyczne|wytycznych|"
        "wskazówki|wskazówek|komendy|ograniczenia|ograniczeń|filtry|prompt|prompty|rozkazy|nakazy",
        quals="wszystkie|wszystkich|wszystko|twoje|twoich|swoje|swoich|poprzednie|poprzednich|wcześniejsze|"
        "wcześniejszych|powyższe|powyższych|systemowe|systemowych|dotychczasowe|dotychczasowych|oryginalne|pierwotne|"
        "bezpieczeństwa",
        post="powyżej|wcześniej|które otrzymałeś|które dostałeś",
    ),
    override(  # Russian
        verbs="игнорируй|проигнорируй|игнорируйте|проигнорируйте|игнорировать|забудь|забудьте|забыть|"
        "не обращай внимания на|не обращайте внимания на|пропусти|отбрось|отбросьте|отмени|отмените|не следуй|"
        "не выполняй|перестань следовать|обойди",
        fillers="эти|этих|и|или|на|о|про|тебе|вам|данные|полученные|от|разработчиков",
        nouns="инструкции|инструкций|инструкциям|указания|указаний|правила|правил|ограничения|ограничений|директивы|"
        "директив|команды|команд|промпт|установки|установок|приказы|настройки|фильтры|запреты",
        quals="все|всех|всё|свои|твои|твоих|ваши|ваших|предыдущие|предыдущих|прежние|прежних|вышеуказанные|"
        "вышеуказанных|системные|системных|исходные|изначальные|первоначальные|ранее|выше|безопасности",
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
