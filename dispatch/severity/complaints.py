"""Chief complaints in Korean and English: the vocabulary and the normaliser.

The severity model was trained on English complaints (Moon et al. 2019 wrote them in English
abbreviations: ``abd pain``, ``SOB``, ``ant. chest pain``); 119 crews type Korean (``복통``,
``숨참``, ``가슴통증``). Both become codes of one vocabulary, and the model sees the codes, so
the same patient is scored alike in either language.

:data:`VOCABULARY` is the table: a code, its Pre-KTAS category (A 물질오용 … Q 일반) and
complaint letters, whether pain there is central or peripheral (the KTAS pain modifier), a
Korean and an English name, and synonyms and abbreviations of both languages. The same table
is shipped as ``data/ktas_triage/chief_complaints.csv`` (:func:`vocabulary_csv` writes it,
:func:`parse_vocabulary` reads it; a test keeps the file and this table identical): the core
reads no file, so the table it uses lives here.

:func:`complaint_codes` maps free text to codes. Matching ignores case, punctuation and the
spaces between words (``가슴통증`` = ``가슴 통증``, ``abd. pain`` = ``abd pain`` = ``abdpain``);
several complaints in one text give several codes; text with no known complaint gives none, never
an error. At each position the longest term wins (``복부 팽만`` is distension, not pain;
``respiratory arrest`` is not cardiac arrest; ``손목 통증`` is the wrist, not ``목 통증`` the
neck). Latin terms match whole words only (``cp`` is not found in ``cpr``); Korean terms match
inside words, since particles and modifiers attach to them (``흉통이``, ``심한두통``), except
one-syllable terms (``열``, ``혹``), which must stand alone. Negation is not interpreted:
``발열 없음`` still says fever (and ``의식 없음`` says unresponsive); write what is present.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

Pain = Literal["central", "peripheral"]

#: Pre-KTAS (and KTAS) adult complaint categories, by letter: (Korean, English).
CATEGORIES: dict[str, tuple[str, str]] = {
    "A": ("물질오용", "substance misuse"),
    "B": ("정신건강", "mental health"),
    "C": ("신경계", "neurological"),
    "D": ("눈", "eye"),
    "E": ("코", "nose"),
    "F": ("귀", "ear"),
    "G": ("입, 목/얼굴", "mouth, throat and face"),
    "H": ("호흡기계", "respiratory"),
    "I": ("심혈관계", "cardiovascular"),
    "J": ("소화기계", "gastrointestinal"),
    "K": ("임신/여성생식계", "pregnancy and female genital"),
    "L": ("비뇨기계/남성생식계", "urinary and male genital"),
    "M": ("근골격계", "musculoskeletal"),
    "N": ("몸통외상", "trunk trauma"),
    "O": ("환경손상", "environmental injury"),
    "P": ("피부", "skin"),
    "Q": ("일반", "general"),
}
#: Where a row comes from: an item (or merged items) of the Pre-KTAS adult list, or added here
#: for complaints of the KTAS data and of 119 run reports that the list does not name.
SOURCES = ("pre-ktas", "added")
COLUMNS = ("code", "category", "pre_ktas", "pain", "ko", "en", "ko_synonyms", "en_synonyms", "source")


@dataclass(frozen=True)
class Complaint:
    """One complaint of the vocabulary."""

    code: str  # upper-case ASCII, e.g. "CHEST_PAIN"
    category: str  # Pre-KTAS category letter A-Q; "" for injury mechanisms and other rows outside the list
    pre_ktas: tuple[str, ...]  # Pre-KTAS complaint codes (category + complaint letter), e.g. ("IC", "ID")
    pain: Pain  # KTAS pain modifier: pain of this complaint is central (organs, cavities) or peripheral
    ko: str
    en: str
    ko_synonyms: tuple[str, ...] = ()
    en_synonyms: tuple[str, ...] = ()
    source: str = "pre-ktas"

    @property
    def terms(self) -> tuple[str, ...]:
        """Every text that names this complaint: both names, then the synonyms."""
        return (self.ko, self.en, *self.ko_synonyms, *self.en_synonyms)


def _c(
    code: str,
    category: str,
    pre_ktas: str,
    pain: Pain,
    ko: str,
    en: str,
    *,
    ko_: Sequence[str] = (),
    en_: Sequence[str] = (),
    source: str = "pre-ktas",
) -> Complaint:
    return Complaint(code, category, tuple(pre_ktas.split()), pain, ko, en, tuple(ko_), tuple(en_), source)


C: Pain = "central"
P: Pain = "peripheral"
ADDED = "added"

# fmt: off
VOCABULARY: tuple[Complaint, ...] = (
    # A 물질오용 -----------------------------------------------------------------------------------
    _c("POISONING", "A", "AA AB", P, "중독", "poisoning",
       ko_=("약물중독", "약물 중독", "물질오용", "과다복용", "약물 과다복용", "음독", "농약 음독", "농약 중독",
            "수면제 과다복용", "약을 많이 먹음"),
       en_=("intoxication", "drug intoxication", "overdose", "drug overdose", "substance misuse",
            "pesticide ingestion", "self poisoning", "drug abuse", "substance abuse")),
    _c("ALCOHOL", "A", "AA", P, "주취", "alcohol intoxication",
       ko_=("음주", "만취", "술 취함", "술에 취함", "음주 상태", "알코올 중독", "알콜 중독"),
       en_=("alcohol", "drunken state", "drunk", "etoh", "alcohol smelling", "ethanol intoxication",
            "alcohol abuse")),
    _c("WITHDRAWAL", "A", "AC", P, "금단증상", "withdrawal",
       ko_=("금단", "물질금단", "알코올 금단", "술 금단"),
       en_=("alcohol withdrawal", "drug withdrawal", "withdrawal symptom")),
    # B 정신건강 -----------------------------------------------------------------------------------
    _c("ANXIETY", "B", "BA", P, "불안", "anxiety",
       ko_=("불안감", "불안/위기상황", "공황", "공황발작", "공황 장애", "초조", "흥분 상태"),
       en_=("panic", "panic attack", "panic disorder", "agitation", "anxious")),
    _c("PSYCHOSIS", "B", "BB", P, "환각/망상", "hallucination or delusion",
       ko_=("환각", "환청", "환시", "망상", "피해망상", "정신병", "정신증"),
       en_=("hallucination", "auditory hallucination", "delusion", "delusional idea", "psychosis", "psychotic",
            "paranoia")),
    _c("INSOMNIA", "B", "BC", P, "불면증", "insomnia",
       ko_=("불면", "잠을 못 잠", "잠이 안 옴"),
       en_=("sleeplessness", "cannot sleep")),
    _c("VIOLENCE", "B", "BD", P, "폭력 행동", "violent behaviour",
       ko_=("폭력/살인행위", "난폭", "난동", "공격적 행동", "살인 충동"),
       en_=("violent behavior", "violence", "aggressive behavior", "aggression", "homicidal")),
    _c("SUICIDE", "B", "BE", P, "자살 시도/자해", "suicide attempt or self-harm",
       ko_=("자살", "자살시도", "자살 기도", "자해", "자살 사고", "자살 생각", "자살하려", "목맴", "투신"),
       en_=("suicidal attempt", "suicide attempt", "suicide", "suicidal", "suicidal ideation", "suicidal thoughts",
            "self harm", "self injury", "hanging")),
    _c("DEPRESSION", "B", "BE", P, "우울", "depression",
       ko_=("우울증", "우울감", "우울함", "우울증/자살/자해"),
       en_=("mood depression", "depressed mood", "depressive")),
    _c("SOCIAL", "B", "BF", P, "사회문제", "social problem",
       ko_=("사회적 문제", "보호자 없음", "노숙"),
       en_=("social issue", "homeless")),
    _c("BIZARRE_BEHAVIOUR", "B", "BG", P, "이상행동", "bizarre behaviour",
       ko_=("기괴한 행동", "이상 행동", "행동 변화", "정신과적 문제", "정신장애"),
       en_=("bizarre behavior", "behavior change", "behaviour change", "abnormal behavior", "psychiatric problem")),
    _c("ABUSE_NEGLECT", "B", "BH", P, "학대/방임", "abuse or neglect",
       ko_=("학대", "방임", "노인학대", "가정폭력", "환자의 안녕에 대한 고려"),
       en_=("abuse", "neglect", "elder abuse", "domestic violence")),
    # C 신경계 -------------------------------------------------------------------------------------
    _c("ALTERED_MENTAL", "C", "CA", C, "의식저하", "decreased consciousness",
       ko_=("의식 저하", "의식변화", "의식 변화", "의식수준의 변화", "의식수준 저하", "의식장애", "의식 장애",
            "의식 없음", "의식없음", "의식소실", "의식 소실", "의식을 잃음", "의식 잃음", "의식 혼미", "혼미", "기면",
            "혼수", "반혼수", "무반응", "반응 없음", "멘탈 변화", "멘탈 저하", "정신을 잃음"),
       en_=("mental change", "altered mentality", "altered mental", "altered mental status", "ams",
            "decreased mentality", "decreased consciousness", "drowsy mentality", "drowsy", "stupor", "stuporous",
            "semicoma", "coma", "comatose", "unresponsive", "unconscious", "loss of consciousness", "loc",
            "decreased level of consciousness")),
    _c("CONFUSION", "C", "CB", C, "착란", "confusion",
       ko_=("혼돈", "혼란", "섬망", "지남력 저하", "헛소리", "횡설수설"),
       en_=("confused", "confuse", "confusion state", "confusion mentality", "confused mentality", "mental confusion",
            "delirium", "acute delirium", "disorientation", "disoriented")),
    _c("DIZZINESS", "C", "CC", C, "어지러움", "dizziness",
       ko_=("어지럼", "어지럼증", "어지러워", "현훈", "현기증", "빙빙 돔", "빙글빙글", "핑 돔"),
       en_=("dizzy", "dz", "vertigo", "whirling type vertigo", "light headedness", "lightheadedness", "lightheaded",
            "light headed", "light headness")),
    _c("HEADACHE", "C", "CD", C, "두통", "headache",
       ko_=("머리 아픔", "머리가 아파", "머리 통증", "편두통", "뒷머리 통증", "심한 두통", "벼락 두통"),
       en_=("ha", "head pain", "head ache", "migraine", "occipital headache", "cephalgia")),
    _c("SEIZURE", "C", "CE", C, "경련", "seizure",
       ko_=("발작", "경련 발작", "경련 후", "발작 후", "간질", "뇌전증", "전신 경련", "사지 경련", "경련/발작"),
       en_=("convulsion", "convulsions", "post seizure", "postictal", "seizure like activity", "seizure like motion",
            "sezure", "seizures", "epilepsy", "gtc")),
    _c("GAIT_DISTURBANCE", "C", "CF", P, "보행장애", "gait disturbance",
       ko_=("보행 장애", "보행장애/운동실조/강직", "운동실조", "걷지 못함", "걸음이 이상", "비틀거림"),
       en_=("ataxia", "unsteady gait", "gait problem", "cannot walk", "rigidity")),
    _c("STROKE_SYMPTOMS", "C", "CG", C, "편마비/뇌졸중 증상", "stroke symptoms",
       ko_=("편마비", "편측마비", "편측 마비", "반신마비", "한쪽 마비", "마비", "사지약화", "사지 위약",
            "사지약화/뇌졸중 증상", "한쪽 힘빠짐", "팔다리 힘빠짐", "팔 힘빠짐", "다리 힘빠짐", "편측 위약", "뇌졸중",
            "중풍", "뇌경색", "뇌출혈", "구음장애", "발음장애", "말이 어눌", "어눌한 말", "언어장애", "실어증"),
       en_=("hemiparesis", "hemiplegia", "side weakness", "side motor weakness", "motor weakness", "arm weakness",
            "leg weakness", "paraparesis", "paralysis", "dysarthria", "slurred speech", "aphasia", "stroke", "cva",
            "tia", "focal weakness", "one sided weakness", "facial droop")),
    _c("FACIAL_PALSY", "C", "CG", C, "안면마비", "facial palsy",
       ko_=("얼굴 마비", "구안와사", "입이 돌아감", "안면 마비"),
       en_=("facial paralysis", "bell palsy", "bells palsy", "facial nerve palsy")),
    _c("HEAD_INJURY", "C", "CH", C, "머리 외상", "head injury",
       ko_=("두부손상", "두부 손상", "두부외상", "두부 외상", "머리 다침", "머리를 다침", "머리 부딪힘",
            "머리를 부딪", "머리 손상", "뇌진탕"),
       en_=("head trauma", "head injuries", "cerebral concussion", "concussion", "tbi", "traumatic brain injury")),
    _c("TREMOR", "C", "CI", P, "떨림", "tremor",
       ko_=("손떨림", "몸 떨림", "불수의 운동"),
       en_=("shaking", "involuntary movement", "involuntary movt", "twitching")),
    _c("SENSORY_LOSS", "C", "CJ", P, "감각이상", "numbness or tingling",
       ko_=("감각 이상", "감각상실", "감각저하", "감각 저하", "감각상실/이상감각", "저림", "저린감", "저리다",
            "손저림", "발저림", "무감각", "찌릿함"),
       en_=("numbness", "tingling", "tingling sense", "paresthesia", "paraesthesia", "limb paresthesia",
            "sensory decreased", "decreased sensation", "sensory change", "hypoesthesia")),
    _c("AMNESIA", "C", "CK", C, "기억상실", "amnesia",
       ko_=("기억 상실", "기억이 안 남", "기억 못함", "기억력 저하"),
       en_=("memory loss", "transient global amnesia")),
    # D 눈 -----------------------------------------------------------------------------------------
    _c("EYE_CHEMICAL", "D", "DA", C, "눈의 화학물질 노출", "chemical in the eye",
       ko_=("눈에 화학물질", "눈에 약품", "눈 화학 화상", "눈에 세제"),
       en_=("chemical eye exposure", "chemical in eye", "eye chemical burn")),
    _c("EYE_FOREIGN_BODY", "D", "DB", C, "눈 이물질", "foreign body in the eye",
       ko_=("눈의 이물질", "눈에 이물", "눈에 뭐가 들어감", "눈에 티"),
       en_=("foreign body in eye", "eye foreign body", "fb eye", "eye fb")),
    _c("VISUAL_DISTURBANCE", "D", "DC", C, "시력장애", "visual disturbance",
       ko_=("시력 장애", "시력저하", "시력 저하", "시력 감소", "시야장애", "시야 장애", "시야 흐림", "흐려 보임",
            "안 보임", "시력상실", "시력 상실"),
       en_=("blurred vision", "blurring of vision", "decreased visual acuity", "visual acuity", "visual loss",
            "vision loss", "visual field defect", "decerased visual acuity")),
    _c("EYE_PAIN", "D", "DD", C, "눈 통증", "eye pain",
       ko_=("눈통증", "안구 통증", "눈이 아픔", "눈 불편감"),
       en_=("ocular pain", "pain eye", "eye discomfort", "both eye pain", "eyeball pain")),
    _c("RED_EYE", "D", "DE", C, "눈 충혈", "red eye",
       ko_=("눈충혈", "충혈", "눈충혈·분비물", "눈곱", "결막염", "눈 분비물"),
       en_=("eye redness", "conjunctival injection", "conjunctivitis", "eye discharge")),
    _c("PHOTOPHOBIA", "D", "DF", C, "눈부심", "photophobia",
       en_=("light sensitivity",)),
    _c("DIPLOPIA", "D", "DG", C, "복시", "double vision",
       ko_=("겹쳐 보임", "두 개로 보임"),
       en_=("diplopia",)),
    _c("PERIORBITAL_SWELLING", "D", "DH", C, "눈 주위 부종", "periorbital swelling",
       ko_=("안와주위 부종", "눈꺼풀 부종", "안검 부종", "눈이 부음", "눈 부음"),
       en_=("eyelid swelling", "lid swelling", "periorbital edema")),
    _c("EYE_INJURY", "D", "DI", C, "눈 외상", "eye injury",
       ko_=("눈의 외상", "안구 외상", "눈 다침", "눈을 다침", "눈 손상"),
       en_=("eye trauma", "ocular injury", "ocular trauma", "globe injury")),
    # E 코 -----------------------------------------------------------------------------------------
    _c("EPISTAXIS", "E", "EA", P, "코피", "nosebleed",
       ko_=("비출혈", "코에서 피"),
       en_=("epistaxis", "nasal bleeding", "nose bleeding", "nose bleed")),
    _c("NASAL_CONGESTION", "E", "EB", P, "코막힘", "nasal congestion",
       ko_=("코 막힘", "콧물", "비염"),
       en_=("stuffy nose", "runny nose", "rhinorrhea")),
    _c("NASAL_FOREIGN_BODY", "E", "EC", P, "코 이물질", "foreign body in the nose",
       ko_=("코의 이물질", "코에 이물"),
       en_=("nasal foreign body", "foreign body in nose")),
    _c("COLD_SYMPTOMS", "E", "ED", P, "감기 증상", "cold symptoms",
       ko_=("감기", "감기몸살", "상기도감염", "상기도감염 증상", "독감"),
       en_=("common cold", "cold", "uri", "upper respiratory infection", "flu", "influenza", "flu like")),
    _c("NASAL_INJURY", "E", "EE", P, "코 외상", "nasal injury",
       ko_=("코의 외상", "코 다침", "코뼈 골절", "비골 골절"),
       en_=("nose injury", "nasal trauma", "nasal bone fracture")),
    # F 귀 -----------------------------------------------------------------------------------------
    _c("EAR_PAIN", "F", "FA", C, "귀 통증", "ear pain",
       ko_=("귀통증", "귀가 아픔", "이통(earache)"),
       en_=("otalgia", "earache")),
    _c("EAR_FOREIGN_BODY", "F", "FB", C, "귀 이물질", "foreign body in the ear",
       ko_=("귀의 이물질", "귀에 이물", "귀에 벌레"),
       en_=("ear foreign body", "foreign body in ear", "insect in ear")),
    _c("HEARING_LOSS", "F", "FC", C, "청력 저하", "hearing loss",
       ko_=("청력손실", "청력 손실", "청력저하", "난청", "돌발성 난청", "안 들림", "잘 안 들림"),
       en_=("sudden hearing loss", "deafness", "decreased hearing")),
    _c("TINNITUS", "F", "FD", C, "이명", "tinnitus",
       ko_=("귀울림", "귀에서 소리"),
       en_=("ringing in ear",)),
    _c("EAR_DISCHARGE", "F", "FE", C, "귀 분비물", "ear discharge",
       ko_=("귀의 삼출물", "귀에서 고름", "귀 고름"),
       en_=("otorrhea",)),
    _c("EAR_INJURY", "F", "FF", C, "귀 외상", "ear injury",
       ko_=("귀의 손상", "귀 손상", "귀 다침", "고막 천공"),
       en_=("ear trauma", "tympanic membrane perforation")),
    # G 입, 목/얼굴 --------------------------------------------------------------------------------
    _c("DENTAL", "G", "GA", C, "치통/구강 문제", "dental or mouth problem",
       ko_=("치통", "치아 통증", "이가 아픔", "치아/구강 문제", "치아 손상", "이가 빠짐", "잇몸 출혈", "잇몸 통증",
            "구강 출혈", "입안 출혈"),
       en_=("toothache", "tooth pain", "dental pain", "dental problem", "gingival bleeding", "bleeding gingival",
            "gum bleeding", "oral bleeding", "tooth injury")),
    _c("FACIAL_INJURY", "G", "GB", P, "안면외상", "facial injury",
       ko_=("안면 외상", "얼굴 외상", "얼굴 다침", "얼굴을 다침", "안면부 손상", "얼굴 손상", "안면 손상"),
       en_=("face injury", "facial trauma", "face trauma")),
    _c("SORE_THROAT", "G", "GC", C, "인후통", "sore throat",
       ko_=("목 아픔", "목이 아파", "목구멍 통증", "목 따가움", "편도염", "인두염"),
       en_=("throat pain", "sorethroat", "throat discomfort", "discomfort throat", "pharyngitis", "tonsillitis")),
    _c("NECK_PAIN_SWELLING", "G", "GD", C, "목 통증/부종", "neck pain or swelling",
       ko_=("목 통증", "목의 부종/통증", "목 부종", "목 부음", "목 붓기", "경부 통증", "경부 종괴", "목에 혹"),
       en_=("neck pain", "neck swelling", "swelling neck", "neck mass")),
    _c("NECK_INJURY", "G", "GE", C, "목 외상", "neck injury",
       ko_=("목의 외상", "목 다침", "목 손상"),
       en_=("neck trauma",)),
    _c("DYSPHAGIA", "G", "GF", C, "삼킴곤란", "difficulty swallowing",
       ko_=("연하곤란", "연하장애", "연하장애/연하곤란", "삼키기 힘듦", "삼키기 어려움", "목에 이물감", "이물감"),
       en_=("dysphagia", "swallowing difficulty", "foreign body sensation", "foreign body sense", "globus")),
    _c("FACIAL_PAIN", "G", "GG", P, "얼굴 통증", "facial pain",
       ko_=("안면 통증", "안면통", "턱 통증", "턱관절 통증", "턱 빠짐", "턱관절 탈구"),
       en_=("pain facial", "face pain", "jaw pain", "tmj pain", "mandibular pain", "jaw dislocation",
            "dislocation of jaw", "tmj dislocation")),
    # H 호흡기계 -----------------------------------------------------------------------------------
    _c("DYSPNEA", "H", "HA", C, "호흡곤란", "dyspnea",
       ko_=("숨참", "숨이 참", "숨차", "숨이 차", "숨 가쁨", "숨가쁨", "숨쉬기 힘듦", "숨쉬기 힘들", "숨쉬기 어려움",
            "숨을 못 쉼", "호흡 곤란", "호흡 불편", "호흡이 힘듦", "가쁜 호흡", "헐떡임", "기좌호흡", "천식 발작",
            "천식 악화", "호흡부전"),
       en_=("dyspnoea", "sob", "shortness of breath", "short of breath", "breathlessness", "difficulty breathing",
            "breathing difficulty", "respiratory distress", "acute dyspnea", "orthopnea", "doe", "asthma attack",
            "copd exacerbation", "respiratory difficulty")),
    _c("RESPIRATORY_ARREST", "H", "HB", C, "호흡정지", "respiratory arrest",
       ko_=("호흡 정지", "무호흡", "호흡 없음", "호흡없음", "숨을 안 쉼", "숨 안 쉼"),
       en_=("apnea", "apnoea", "not breathing", "no breathing")),
    _c("HYPERVENTILATION", "H", "HC", C, "과호흡", "hyperventilation",
       ko_=("과다호흡", "과다호흡증후군", "과환기"),
       en_=("hyperventilation syndrome",)),
    _c("HEMOPTYSIS", "H", "HD", C, "객혈", "hemoptysis",
       ko_=("피 섞인 가래", "피가래", "기침할 때 피"),
       en_=("haemoptysis", "bloody sputum", "blood tinged sputum")),
    _c("COUGH", "H", "HE", C, "기침", "cough",
       ko_=("기침/코막힘", "가래", "객담", "마른기침"),
       en_=("coughing", "sputum", "productive cough")),
    _c("AIRWAY_FOREIGN_BODY", "H", "HF", C, "기도 이물", "choking",
       ko_=("기도이물", "기도 이물질", "호흡기 이물질", "기도 폐쇄", "기도폐쇄", "질식", "음식이 걸림", "목에 걸림",
            "떡이 걸림"),
       en_=("airway obstruction", "airway foreign body", "foreign body aspiration", "aspiration of foreign body")),
    _c("ALLERGIC_REACTION", "H", "HG", C, "알레르기 반응", "allergic reaction",
       ko_=("알레르기반응", "알레르기", "알러지", "아나필락시스", "약물 알레르기", "약물 알러지", "혈관부종",
            "과민반응"),
       en_=("allergy", "anaphylaxis", "anaphylactic", "drug allergy", "angioedema", "hypersensitivity")),
    _c("STRIDOR", "H", "HH", C, "협착음", "stridor",
       ko_=("그르렁거림", "숨쉴 때 쇳소리"),
       en_=("noisy breathing",)),
    _c("WHEEZING", "H", "HJ", C, "천명음", "wheezing",
       ko_=("천명", "쌕쌕거림", "쌕쌕"),
       en_=("wheeze", "wheezes")),
    # I 심혈관계 -----------------------------------------------------------------------------------
    _c("CARDIAC_ARREST", "I", "IA IB", C, "심정지", "cardiac arrest",
       ko_=("심장정지", "심폐정지", "심장마비", "맥박 없음", "맥박없음", "무맥", "심폐소생술", "심정지 후",
            "자발순환회복", "외상성 심정지", "심정지(비외상성)", "심정지(외상성)"),
       en_=("arrest", "cardiopulmonary arrest", "cpa", "ohca", "cpr", "post cpr", "post cpr state", "rosc",
            "pulseless", "no pulse", "asystole", "ventricular fibrillation")),
    _c("CHEST_PAIN", "I", "IC ID", C, "흉통", "chest pain",
       ko_=("가슴 통증", "가슴 아픔", "가슴이 아파", "가슴 답답", "가슴 답답함", "가슴이 답답", "가슴 불편감",
            "가슴불편감", "가슴 조임", "가슴 압박감", "흉부 통증", "흉부 불편감", "흉부 압박감", "흉부 답답",
            "흉통(심장성)", "흉통(비심장성)", "심장발작", "협심증"),
       en_=("cp", "pain chest", "chest discomfort", "discomfort chest", "chest tightness", "chest pressure",
            "chest wall pain", "ant chest pain", "anterior chest pain", "angina", "heart attack", "stemi", "nstemi",
            "ami", "acs", "acute coronary syndrome", "myocardial infarction")),
    _c("PALPITATIONS", "I", "IE", C, "두근거림", "palpitations",
       ko_=("가슴 두근거림", "가슴이 두근", "심계항진", "심계항진/불규칙한 심장박동", "불규칙한 심장박동",
            "맥박이 빠름", "빈맥", "부정맥"),
       en_=("palpitation", "chest palpitation", "tachycardia", "irregular heartbeat", "irregular heart beat",
            "arrhythmia", "afib", "a fib", "psvt", "rapid heart rate")),
    _c("HYPERTENSION", "I", "IF", C, "고혈압", "high blood pressure",
       ko_=("혈압 상승", "혈압이 높음", "혈압 높음", "고혈압 위기"),
       en_=("hypertension", "htn", "elevated blood pressure", "blood pressure high", "hypertensive")),
    _c("HYPOTENSION", "I", "", C, "저혈압", "low blood pressure",
       ko_=("혈압 저하", "혈압이 낮음", "혈압 낮음", "쇼크", "혈압 측정 안 됨"),
       en_=("hypotension", "blood pressure low", "shock", "hypotensive"),
       source=ADDED),
    _c("GENERAL_WEAKNESS", "I", "IG", P, "전신쇠약", "general weakness",
       ko_=("전신 쇠약", "전신 쇠약감", "쇠약감", "기운 없음", "기운이 없", "힘이 없", "힘 없음", "무기력",
            "기력 저하", "기력저하", "처짐", "활동 저하", "피로", "피곤"),
       en_=("generalized weakness", "generalised weakness", "weakness", "g w", "decreased activity", "fatigue",
            "malaise", "lethargy", "asthenia", "general debility")),
    _c("SYNCOPE", "I", "IH", C, "실신", "syncope",
       ko_=("기절", "졸도", "쓰러짐", "전실신", "실신/전실신", "실신할 것 같음", "눈앞이 캄캄"),
       en_=("near syncope", "presyncope", "pre syncope", "faint", "fainting", "collapse", "collapsed")),
    _c("GENERALIZED_EDEMA", "I", "II", P, "전신부종", "generalized edema",
       ko_=("전신 부종", "온몸이 부음", "몸이 부음"),
       en_=("generalised edema", "anasarca", "whole body swelling")),
    _c("LEG_SWELLING", "I", "IJ", P, "다리 부종", "leg swelling",
       ko_=("다리 부기/부종", "다리 부기", "다리 부음", "다리가 부음", "하지 부종", "발 부종", "발이 부음"),
       en_=("leg edema", "leg oedema", "lower extremity edema", "foot swelling", "ankle swelling")),
    _c("COLD_LIMB", "I", "IK", P, "차가운 사지", "cold or pulseless limb",
       ko_=("맥박이 없거나 차가운 사지", "사지 냉감", "다리가 차가움", "손발이 차고 창백"),
       en_=("cold limb", "cold extremity", "pulseless limb", "limb ischemia", "acute limb ischemia")),
    _c("HOT_RED_LIMB", "I", "IL", P, "한쪽 사지 발적/열감", "hot red swollen limb",
       ko_=("일측성의 홍조 띤 뜨거운 사지", "심부정맥혈전증"),
       en_=("hot swollen leg", "dvt", "deep vein thrombosis")),
    # J 소화기계 -----------------------------------------------------------------------------------
    _c("ABDOMINAL_PAIN", "J", "JA", C, "복통", "abdominal pain",
       ko_=("배 아픔", "배가 아파", "배 통증", "복부 통증", "복부통증", "복부 불편감", "명치 통증", "명치통",
            "명치가 아파", "상복부 통증", "하복부 통증", "윗배 통증", "아랫배 통증", "우상복부 통증", "우하복부 통증",
            "좌상복부 통증", "좌하복부 통증", "배꼽 주위 통증", "속쓰림", "골반 통증"),
       en_=("abd pain", "abdomen pain", "abdominal discomfort", "abd discomfort", "abdomen discomfort",
            "pain abdominal", "pain abdomen", "epigastric pain", "epigastric discomfort", "epigastralgia", "ruq",
            "rlq", "luq", "llq", "ruq pain", "rlq pain", "luq pain", "llq pain", "periumbilical pain",
            "pain periumbilical", "stomach ache", "stomachache", "belly pain", "pelvic pain", "colic")),
    _c("ANOREXIA", "J", "JB", C, "식욕부진", "poor appetite",
       ko_=("식욕 부진", "식욕 저하", "못 먹음", "식사를 못 함"),
       en_=("anorexia", "poor oral intake", "decreased appetite", "poor po intake")),
    _c("CONSTIPATION", "J", "JC", C, "변비", "constipation",
       ko_=("변을 못 봄", "대변을 못 봄"),
       en_=("obstipation",)),
    _c("RECTAL_FOREIGN_BODY", "J", "JD", C, "직장내 이물질", "rectal foreign body",
       ko_=("항문 이물질",),
       en_=("foreign body in rectum",)),
    _c("GROIN_PAIN", "J", "JE", C, "사타구니 통증/종괴", "groin pain or lump",
       ko_=("샅고랑부위 통증/종괴", "서혜부 통증", "사타구니 통증", "서혜부 탈장", "탈장"),
       en_=("groin pain", "inguinal pain", "inguinal hernia", "hernia", "groin mass")),
    _c("VOMITING", "J", "JF", C, "구토", "vomiting",
       ko_=("구역질", "구토/구역", "오심", "메스꺼움", "울렁거림", "토함", "토했", "토를 함"),
       en_=("nausea", "n v", "emesis", "vomit", "nausea and vomiting")),
    _c("ANORECTAL_PAIN", "J", "JG", C, "항문 통증", "anal or rectal pain",
       ko_=("항문/직장/회음부 통증", "항문통", "회음부 통증", "치질", "치핵"),
       en_=("anal pain", "rectal pain", "perianal pain", "hemorrhoid", "hemorrhoids", "perineal pain")),
    _c("DIARRHEA", "J", "JH", C, "설사", "diarrhea",
       ko_=("묽은 변", "물설사", "장염"),
       en_=("diarrhoea", "watery diarrhea", "loose stool", "gastroenteritis")),
    _c("HEMATEMESIS", "J", "JI", C, "토혈", "hematemesis",
       ko_=("피를 토", "피 토함", "혈성 구토", "커피색 구토"),
       en_=("haematemesis", "bloody vomiting", "vomiting blood", "coffee ground vomiting")),
    _c("GI_BLEEDING", "J", "JJ", C, "혈변/흑색변", "bloody or black stool",
       ko_=("혈변", "흑색변", "흑변", "검은 변", "피 섞인 변", "항문 출혈", "위장관 출혈"),
       en_=("hematochezia", "melena", "melaena", "bloody stool", "black stool", "tarry stool", "rectal bleeding",
            "gi bleeding", "ugib", "lgib")),
    _c("JAUNDICE", "J", "JK", C, "황달", "jaundice",
       ko_=("눈이 노래짐", "피부가 노래짐"),
       en_=("icterus", "yellow skin")),
    _c("HICCUP", "J", "JL", C, "딸꾹질", "hiccups",
       en_=("hiccup", "hiccough")),
    _c("ABDOMINAL_DISTENSION", "J", "JM", C, "복부 팽만", "abdominal distension",
       ko_=("복부팽만", "배가 부름", "배가 빵빵", "복부 종괴", "복부종괴/팽만", "복수 천자", "복수가 참"),
       en_=("abd distension", "distension abd", "abdomen distension", "distended abdomen", "abdominal distention",
            "bloating", "ascites", "ascites tapping", "a tapping", "abdominal mass")),
    _c("ANORECTAL_INJURY", "J", "JN", C, "항문/회음부 외상", "anal or perineal injury",
       ko_=("항문/직장/회음부 외상", "회음부 외상", "항문 외상"),
       en_=("perineal injury", "anal injury")),
    _c("SWALLOWED_FOREIGN_BODY", "J", "JO", C, "이물질 삼킴", "swallowed foreign body",
       ko_=("이물 삼킴", "이물을 삼킴", "생선가시", "가시가 걸림", "동전 삼킴", "건전지 삼킴"),
       en_=("foreign body ingestion", "ingested foreign body", "fb in pharynx", "foreign body in throat", "fish bone",
            "swallowed fb")),
    # K 임신/여성생식계 ----------------------------------------------------------------------------
    _c("MENSTRUAL", "K", "KA", C, "월경 문제", "menstrual problem",
       ko_=("생리통", "월경통", "생리 문제", "월경 이상", "생리 불순"),
       en_=("dysmenorrhea", "menstrual pain", "period pain")),
    _c("VAGINAL_FOREIGN_BODY", "K", "KB", P, "질내 이물질", "vaginal foreign body",
       ko_=("질 이물질",),
       en_=("foreign body in vagina", "retained tampon")),
    _c("VAGINAL_DISCHARGE", "K", "KC", P, "질 분비물", "vaginal discharge",
       ko_=("질분비물", "냉"),
       en_=("leukorrhea",)),
    _c("VAGINAL_PAIN_ITCH", "K", "KD", P, "질통증/가려움", "vaginal pain or itching",
       ko_=("질 통증", "외음부 통증", "질 가려움", "외음부 가려움"),
       en_=("vaginal pain", "vaginal itching", "vulvar pain")),
    _c("VAGINAL_BLEEDING", "K", "KE", C, "질출혈", "vaginal bleeding",
       ko_=("질 출혈", "부정출혈", "자궁 출혈", "생리 과다"),
       en_=("vaginal spotting", "pv bleeding", "per vaginal bleeding", "uterine bleeding", "menorrhagia")),
    _c("LABIAL_SWELLING", "K", "KF", P, "음순부종", "labial swelling",
       ko_=("음순 부종", "바르톨린 낭종"),
       en_=("vulvar swelling", "bartholin cyst")),
    _c("PREGNANCY", "K", "KG KH", C, "임신 관련 문제", "pregnancy problem",
       ko_=("임신", "임산부", "20주 미만의 임신", "20주 이상의 임신", "분만", "분만진통", "출산 임박", "양수 터짐",
            "양막파열", "조기 진통", "유산"),
       en_=("pregnancy", "pregnant", "labor", "labour", "labor pain", "prom", "pprom", "rupture of membranes",
            "miscarriage", "abortion")),
    _c("SEXUAL_ASSAULT", "K", "KI LK", P, "성폭행", "sexual assault",
       ko_=("성폭력", "강간", "성추행", "성범죄 피해"),
       en_=("sexual violence", "sexual abuse", "rape")),
    _c("GENITAL_INJURY", "K", "KJ LJ", P, "생식기 외상", "genital injury",
       ko_=("생식기의 외상", "생식기 손상"),
       en_=("genital trauma",)),
    _c("POSTPARTUM", "K", "KK", C, "출산 후 문제", "postpartum problem",
       ko_=("출산 후 문제(6주 이내)", "산후 출혈", "산후"),
       en_=("postpartum", "post partum", "postpartum bleeding")),
    # L 비뇨기계/남성생식계 ------------------------------------------------------------------------
    _c("FLANK_PAIN", "L", "LA", C, "옆구리 통증", "flank pain",
       ko_=("옆구리통증", "옆구리가 아파", "측복부 통증", "요로결석", "신장결석", "콩팥 결석"),
       en_=("pain flank", "renal colic", "kidney stone", "urolithiasis", "ureter stone", "ureteral stone")),
    _c("HEMATURIA", "L", "LB", C, "혈뇨", "hematuria",
       ko_=("소변에 피", "피오줌", "붉은 소변"),
       en_=("haematuria", "gross hematuria", "bloody urine", "blood in urine")),
    _c("GENITAL_LESION", "L", "LC", P, "생식기 분비물/병변", "genital discharge or lesion",
       ko_=("생식기의 분비물/피부병변", "요도 분비물", "생식기 병변"),
       en_=("urethral discharge", "genital lesion", "genital ulcer")),
    _c("PENILE_SWELLING", "L", "LD", P, "음경부종", "penile swelling",
       ko_=("음경 부종", "음경 통증", "지속 발기"),
       en_=("penile pain", "priapism", "penile erection", "erection penile")),
    _c("SCROTAL_PAIN", "L", "LE", C, "고환 통증/부종", "testicular pain or swelling",
       ko_=("고환 통증", "고환통", "고환 부종", "음낭 통증", "음낭 부종"),
       en_=("scrotal pain", "testicular pain", "scrotal swelling", "testicular swelling", "testicular torsion")),
    _c("URINARY_RETENTION", "L", "LF", C, "소변 배출장애", "urinary retention",
       ko_=("소변 배출 장애", "배뇨장애", "배뇨 장애", "배뇨곤란", "배뇨 곤란", "소변을 못 봄", "소변 안 나옴",
            "소변이 안 나옴", "요폐"),
       en_=("voiding difficulty", "difficulty in voiding", "difficulty voiding", "voiding failure",
            "retention bladder", "bladder retention", "acute urinary retention", "cannot void")),
    _c("URINARY_SYMPTOMS", "L", "LG", C, "요로감염 증상", "urinary symptoms",
       ko_=("배뇨통", "소변 볼 때 통증", "빈뇨", "잔뇨감", "요로감염", "방광염", "신우신염"),
       en_=("dysuria", "urinary frequency", "voiding pain", "painful urination", "urinary symptom", "urinary sx",
            "uti", "urinary tract infection", "cystitis", "pyelonephritis")),
    _c("OLIGURIA", "L", "LH", C, "핍뇨", "low urine output",
       ko_=("핍뇨증", "소변량 감소", "무뇨"),
       en_=("oliguria", "anuria", "decreased urine output")),
    _c("POLYURIA", "L", "LI", C, "다뇨", "polyuria",
       ko_=("다뇨증", "소변을 자주 많이 봄"),
       en_=("frequent large urination",)),
    # M 근골격계 -----------------------------------------------------------------------------------
    _c("BACK_PAIN", "M", "MA", C, "요통", "back pain",
       ko_=("허리 통증", "허리가 아파", "허리 아픔", "등 통증", "등이 아파", "뒷목 통증", "뒷목 당김",
            "목·등·허리 통증", "허리 디스크"),
       en_=("low back pain", "lower back pain", "upper back pain", "lbp", "backache", "pain low back",
            "post neck pain", "posterior neck pain", "lumbago", "flank and back pain")),
    _c("SPINE_INJURY", "M", "MB", C, "척추 외상", "spine injury",
       ko_=("외상성 목·등·허리 손상", "척추 손상", "허리 외상", "허리를 다침", "목뼈 손상", "경추 손상"),
       en_=("spinal injury", "back injury", "neck sprain", "cervical spine injury", "whiplash")),
    _c("AMPUTATION", "M", "MC", P, "절단", "amputation",
       ko_=("절단상", "손가락 절단", "발가락 절단", "사지 절단"),
       en_=("finger amputation", "traumatic amputation", "severed finger")),
    _c("ARM_PAIN", "M", "MD", P, "상지 통증", "arm pain",
       ko_=("팔 통증", "팔이 아파", "어깨 통증", "어깨가 아파", "손목 통증", "팔목 통증", "팔꿈치 통증", "손 통증",
            "손가락 통증", "팔뚝 통증"),
       en_=("shoulder pain", "wrist pain", "elbow pain", "hand pain", "finger pain", "forearm pain", "upper arm pain",
            "pain hand", "pain shoulder", "pain arm", "upper extremity pain")),
    _c("LEG_PAIN", "M", "ME", P, "하지 통증", "leg pain",
       ko_=("다리 통증", "다리가 아파", "무릎 통증", "발목 통증", "발 통증", "발바닥 통증", "발가락 통증",
            "고관절 통증", "엉덩이 통증", "허벅지 통증", "종아리 통증"),
       en_=("knee pain", "ankle pain", "foot pain", "toe pain", "hip pain", "hip joint pain", "buttock pain",
            "thigh pain", "calf pain", "pain leg", "pain foot", "pain hip", "pain on knee", "pain knee",
            "lower extremity pain")),
    _c("ARM_INJURY", "M", "MF", P, "상지 손상", "arm injury",
       ko_=("팔 외상", "팔 다침", "팔을 다침", "손 다침", "손을 다침", "손가락 다침", "손가락 외상", "손목 다침",
            "손목 외상", "손목 골절", "어깨 탈구", "팔 골절"),
       en_=("hand injury", "finger injury", "injury finger", "wrist injury", "elbow injury", "shoulder injury",
            "forearm injury", "arm fracture", "wrist fracture", "shoulder dislocation", "injury hand", "injury arm")),
    _c("LEG_INJURY", "M", "MG", P, "하지 손상", "leg injury",
       ko_=("다리 외상", "다리 다침", "다리를 다침", "발 다침", "발목 다침", "발목 외상", "발목 염좌", "발목 삠",
            "발목을 접질림", "발목 골절", "무릎 다침", "무릎 외상", "발가락 다침", "고관절 골절", "다리 골절"),
       en_=("ankle injury", "knee injury", "foot injury", "toe injury", "hip injury", "injury ankle", "injury leg",
            "injury knee", "ankle sprain", "hip fracture", "leg fracture", "ankle fracture")),
    _c("JOINT_SWELLING", "M", "MH", P, "관절 부종", "joint swelling",
       ko_=("관절 붓기", "관절이 부음", "무릎 부종", "무릎이 부음", "손목 부종", "발목 부종", "팔꿈치 부종", "통풍"),
       en_=("knee swelling", "wrist swelling", "elbow swelling", "elbow painful swelling", "joint effusion", "gout",
            "arthritis")),
    _c("CAST_CHECK", "M", "MI", P, "석고붕대 확인", "cast check",
       ko_=("깁스 확인", "석고붕대", "깁스 문제"),
       en_=("cast problem", "splint check")),
    _c("FRACTURE", "M", "MF MG", P, "골절", "fracture",
       ko_=("뼈가 부러짐", "골절 의심"),
       en_=("fx", "broken bone", "suspected fracture"),
       source=ADDED),
    _c("DISLOCATION", "M", "MF MG", P, "탈구", "dislocation",
       ko_=("관절이 빠짐",),
       en_=("joint dislocation", "subluxation"),
       source=ADDED),
    _c("SPRAIN", "M", "MF MG", P, "염좌", "sprain",
       ko_=("삠", "접질림", "삐끗"),
       en_=("strain", "twisted"),
       source=ADDED),
    _c("CONTUSION", "M", "MF MG", P, "타박상", "contusion",
       ko_=("타박", "부딪힘", "부딪혀서"),
       en_=("bruise", "blunt injury"),
       source=ADDED),
    _c("CRUSH_INJURY", "M", "MF MG", P, "압궤손상", "crush injury",
       ko_=("압궤 손상", "끼임", "깔림"),
       en_=("crushing injury", "caught in machine"),
       source=ADDED),
    # N 몸통외상 -----------------------------------------------------------------------------------
    _c("MULTIPLE_TRAUMA", "N", "NA", C, "다발성 외상", "multiple trauma",
       ko_=("몸통을 포함한 다발성 외상", "중증외상", "중증 외상", "다발성 손상"),
       en_=("major trauma", "polytrauma", "multiple injuries", "multiple trauma patient")),
    _c("CHEST_TRAUMA", "N", "NB NC", C, "흉부 외상", "chest injury",
       ko_=("흉부외상", "가슴 외상", "가슴 타박상", "가슴을 다침", "늑골 골절", "갈비뼈 골절", "단독 흉부외상"),
       en_=("chest trauma", "rib fracture", "blunt chest trauma", "chest wall injury")),
    _c("ABDOMINAL_TRAUMA", "N", "ND NE", C, "복부 외상", "abdominal injury",
       ko_=("복부외상", "배 외상", "배를 다침", "복부 타박상", "단독 복부외상"),
       en_=("abdominal trauma", "blunt abdominal trauma")),
    _c("PENETRATING_INJURY", "N", "NB ND", C, "관통상", "penetrating injury",
       ko_=("자상", "칼에 찔림", "흉기에 찔림", "찔림", "총상"),
       en_=("stab wound", "stab", "penetrating trauma", "gunshot wound", "gsw")),
    # O 환경손상 -----------------------------------------------------------------------------------
    _c("FROSTBITE", "O", "OA", P, "동상", "frostbite",
       ko_=("동상/한랭손상", "한랭손상", "한랭 손상"),
       en_=("cold injury",)),
    _c("HEAT_ILLNESS", "O", "OB", P, "온열질환", "heat illness",
       ko_=("온열손상", "온열 질환", "열사병", "일사병", "열탈진", "열경련"),
       en_=("heat stroke", "heatstroke", "heat exhaustion", "sunstroke", "hyperthermia")),
    _c("INHALATION", "O", "OC", C, "유해물질 흡입", "toxic inhalation",
       ko_=("유해물질흡입", "연기흡입", "연기 흡입", "가스 흡입", "일산화탄소 중독", "가스 중독", "일산화탄소"),
       en_=("smoke inhalation", "inhalation injury", "gas inhalation", "carbon monoxide", "co poisoning")),
    _c("ELECTRICAL_INJURY", "O", "OD", P, "전기손상", "electrical injury",
       ko_=("전기 손상", "감전", "전기 화상", "낙뢰"),
       en_=("electric shock", "electrocution", "electrical burn", "lightning")),
    _c("CHEMICAL_EXPOSURE", "O", "OE", P, "화학물질 노출", "chemical exposure",
       ko_=("화학물질", "화학 화상", "화학약품 노출"),
       en_=("chemical burn", "chemical contact")),
    _c("HYPOTHERMIA", "O", "OF", P, "저체온증", "hypothermia",
       ko_=("저체온",),
       en_=("low body temperature",)),
    _c("DROWNING", "O", "OG", C, "익수", "drowning",
       ko_=("물에 빠짐", "익사", "익수 사고"),
       en_=("near drowning", "submersion")),
    # P 피부 ---------------------------------------------------------------------------------------
    _c("BITE", "P", "PA", P, "물림", "bite",
       ko_=("개에 물림", "개물림", "동물 물림", "뱀에 물림", "교상", "사람에게 물림"),
       en_=("dog bite", "animal bite", "snake bite", "human bite", "cat bite")),
    _c("STING", "P", "PB", P, "쏘임", "sting",
       ko_=("벌 쏘임", "벌에 쏘임", "벌쏘임", "해파리 쏘임", "곤충 쏘임"),
       en_=("bee sting", "wasp sting", "insect sting", "jellyfish sting", "insect bite")),
    _c("ABRASION", "P", "PC", P, "찰과상", "abrasion",
       ko_=("까짐", "쓸림", "긁힘"),
       en_=("graze", "scratch")),
    _c("LACERATION", "P", "PD", P, "열상", "laceration",
       ko_=("열상/천공", "찢어짐", "찢어진 상처", "찢김", "베임", "베인 상처", "칼에 베임", "상처", "개방창"),
       en_=("lac", "open wound", "wound", "cut", "laceration wound", "puncture wound", "skin defect")),
    _c("BURN", "P", "PE", P, "화상", "burn",
       ko_=("데임", "뜨거운 물에 데임", "열탕 화상", "화염 화상"),
       en_=("burns", "scald", "flame burn", "burn injury")),
    _c("BODY_FLUID_EXPOSURE", "P", "PF", P, "혈액/체액 노출", "blood or body fluid exposure",
       ko_=("혈액이나 체액에 노출", "주사침 자상", "바늘에 찔림", "주사바늘에 찔림", "니들 손상"),
       en_=("needle stick injury", "needlestick injury", "needle stick", "body fluid exposure", "blood exposure")),
    _c("SKIN_FOREIGN_BODY", "P", "PG", P, "피부 이물질", "foreign body in the skin",
       ko_=("피부의 이물질", "가시 박힘", "가시가 박힘"),
       en_=("splinter", "skin foreign body")),
    _c("WOUND_CHECK", "P", "PH", P, "상처 확인", "wound check",
       ko_=("상처확인", "상처 소독", "상처 치료"),
       en_=("wound check", "wound recheck", "wound care", "wound dressing")),
    _c("SUTURE_REMOVAL", "P", "PI", P, "봉합사 제거", "suture removal",
       ko_=("스테이플/봉합사 제거", "실밥 제거", "실밥 뽑기"),
       en_=("stitch removal", "stitch out", "staple removal")),
    _c("RASH", "P", "PJ", P, "발진", "rash",
       ko_=("피부 발진", "두드러기", "피부 두드러기", "반점", "구진", "피부병"),
       en_=("skin rash", "urticaria", "urticarial rash", "generalized urticaria", "hives", "skin eruption",
            "eruption", "erythematous papule", "papule")),
    _c("BREAST", "P", "PK", P, "유방 통증/발적", "breast pain or redness",
       ko_=("유방의 발적/압통", "유방 통증", "유방 발적", "유선염"),
       en_=("breast pain", "breast redness", "mastitis")),
    _c("LOCAL_SWELLING", "P", "PL", P, "국소 부종/발적", "local swelling or redness",
       ko_=("국소성 부종/발적", "부종", "부기", "붓기", "발적", "봉와직염", "얼굴 부종", "얼굴이 부음"),
       en_=("swelling", "local swelling", "redness", "cellulitis", "facial swelling", "swelling facial",
            "face swelling", "abscess")),
    _c("LUMP", "P", "PM", P, "혹", "lump",
       ko_=("혹·돌기·굳은살", "멍울", "종기", "굳은살"),
       en_=("skin lump", "bump", "mass")),
    _c("CYANOSIS", "P", "PO", C, "청색증", "cyanosis",
       ko_=("입술이 파래짐", "입술이 파람"),
       en_=("cyanotic", "blue lips")),
    _c("BRUISING", "P", "PP", P, "외상 없는 멍", "spontaneous bruising",
       ko_=("외상없이 저절로 멍듦", "멍듦", "멍이 듦", "멍", "자반"),
       en_=("easy bruising", "purpura", "petechiae", "bruising")),
    _c("ITCHING", "P", "PQ", P, "가려움", "itching",
       ko_=("가려움증", "소양증", "소양감"),
       en_=("itch", "itchy", "pruritus", "itching sensation")),
    # Q 일반 ---------------------------------------------------------------------------------------
    _c("INFECTION_EXPOSURE", "Q", "QA", P, "감염병 노출", "exposure to infection",
       ko_=("감염성 질환에 노출", "감염병 접촉", "확진자 접촉"),
       en_=("infectious exposure", "contact with infection")),
    _c("FEVER", "Q", "QB", P, "발열", "fever",
       ko_=("열", "고열", "미열", "열남", "열이 남", "열이 나", "열감", "오한", "오한 발열", "몸이 뜨거움",
            "열 발생"),
       en_=("febrile", "febrile sense", "fever chills", "fever and chills", "fever chill", "f c", "chills",
            "chilling", "high fever", "pyrexia", "fever unspecified")),
    _c("HYPERGLYCEMIA", "Q", "QC", P, "고혈당", "high blood sugar",
       ko_=("혈당 높음", "혈당이 높음", "혈당 상승", "당뇨 케톤산증"),
       en_=("hyperglycemia", "high bsl", "bsl high", "high bst", "bst high", "high blood glucose", "dka")),
    _c("HYPOGLYCEMIA", "Q", "QD", P, "저혈당", "low blood sugar",
       ko_=("혈당 낮음", "혈당이 낮음", "혈당 저하", "당 떨어짐"),
       en_=("hypoglycemia", "hypoglycemic", "hypoglycemic symptom", "low bst", "low bsl", "low blood glucose")),
    _c("REFERRAL", "Q", "QE", P, "전원/진료 의뢰", "referral",
       ko_=("전문진료를 위해서 의뢰된 환자", "진료 의뢰", "전원"),
       en_=("referred", "transfer from other hospital", "for transfer")),
    _c("DRESSING", "Q", "QF", P, "드레싱 교체", "dressing change",
       ko_=("드레싱교체", "드레싱"),
       en_=("dressing",)),
    _c("TESTS", "Q", "QG", P, "검사 요청", "tests requested",
       ko_=("영상검사/검사실 검사", "검사 목적", "영상 복사"),
       en_=("for examination", "film copy", "ct film copy", "lab test")),
    _c("MEDICAL_DEVICE", "Q", "QH", P, "의료장비 문제", "medical device problem",
       ko_=("의료장비문제", "튜브 빠짐", "도뇨관 문제", "소변줄", "콧줄", "위루관", "투석관", "혈관 통로 막힘"),
       en_=("catheter removal", "catheter problem", "tube change", "peg", "peg tube", "ptbd", "avf",
            "avf malfunction", "foley", "l tube", "levin tube", "tube malfunction", "hemodialysis catheter")),
    _c("MEDICATION", "Q", "QI", P, "처방/투약 문의", "medication request",
       ko_=("처방전/투약문의", "약 처방", "투약", "약 타러", "주사 맞으러"),
       en_=("medication", "for medication", "po medication", "iv injection", "prescription", "refill")),
    _c("RING_REMOVAL", "Q", "QJ", P, "반지 제거", "ring removal",
       ko_=("반지제거", "반지가 안 빠짐"),
       en_=("stuck ring",)),
    _c("ABNORMAL_LAB", "Q", "QK", P, "비정상 검사결과", "abnormal test result",
       ko_=("검사 이상", "수치 이상", "검사결과 이상"),
       en_=("abnormal lab", "abnormal laboratory", "abnormal result", "lab abnormality")),
    _c("ANEMIA", "Q", "QL", P, "빈혈", "anemia or pallor",
       ko_=("창백함/빈혈", "창백", "창백함", "헤모글로빈 저하"),
       en_=("anemia", "anaemia", "pallor", "pale", "low hb", "low hemoglobin", "anemia w u")),
    _c("POSTOP", "Q", "QM", P, "수술 후 합병증", "post-operative problem",
       ko_=("수술 후", "수술 부위 통증", "수술 부위"),
       en_=("postoperative", "post operative", "post op", "surgical site")),
    _c("MYALGIA", "Q", "QN", P, "근육통/몸살", "myalgia",
       ko_=("근육통", "몸살", "전신 통증", "온몸이 쑤심", "몸이 쑤심"),
       en_=("muscle pain", "general ache", "body ache", "generalized ache", "whole body pain")),
    # outside the Pre-KTAS list: mechanisms and unspecified injury or bleeding ---------------------
    _c("FALL", "", "", P, "낙상", "fall",
       ko_=("추락", "넘어짐", "넘어져", "미끄러짐", "미끄러져", "계단에서 구름", "계단에서 넘어짐"),
       en_=("fell", "fell down", "fall down", "slip down", "slipped", "fall from height"),
       source=ADDED),
    _c("TRAFFIC_ACCIDENT", "", "", P, "교통사고", "traffic accident",
       ko_=("교통 사고", "차량 사고", "차 사고", "자동차 사고", "오토바이 사고", "자전거 사고", "보행자 사고",
            "차에 치임", "차에 부딪힘"),
       en_=("car accident", "motor vehicle accident", "mva", "mvc", "road traffic accident", "pedestrian accident",
            "motorcycle accident"),
       source=ADDED),
    _c("ASSAULT", "", "", P, "폭행", "assault",
       ko_=("폭행당함", "구타", "얻어맞음", "맞았음"),
       en_=("beaten", "physical assault"),
       source=ADDED),
    _c("INJURY", "", "", P, "외상", "injury",
       ko_=("손상", "부상", "다침", "다쳤"),
       en_=("trauma", "injured", "injuries"),
       source=ADDED),
    _c("SWEATING", "", "", P, "식은땀", "sweating",
       ko_=("진땀", "땀을 많이 흘림", "땀이 많이 남"),
       en_=("diaphoresis", "cold sweat", "sweat", "diaphoretic"),
       source=ADDED),
    _c("BLEEDING", "", "", P, "출혈", "bleeding",
       ko_=("피가 남", "피가 나", "피 남", "지혈 안 됨", "대량 출혈"),
       en_=("hemorrhage", "haemorrhage", "active bleeding"),
       source=ADDED),
)
# fmt: on

#: Words that contain a shorter term of another meaning (``손목`` holds ``목``, the neck): matched
#: first, so they hide it, and mean no complaint themselves.
BLOCKERS = ("손목", "발목", "팔목", "열쇠", "열매", "환자", "공복")


# --- text normalisation ------------------------------------------------------------------------------------------

_SEPARATORS = re.compile(r"[\W_]+")
_LATIN = re.compile(r"[a-z0-9]")


def clean(text: str) -> str:
    """Text as matched: NFKC, case-folded, every run of punctuation and spaces one space."""
    return _SEPARATORS.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def _is_latin(char: str) -> bool:
    return bool(_LATIN.fullmatch(char))


def _key(term: str) -> str:
    return clean(term).replace(" ", "")


def _pattern(term: str) -> str:
    """The regular expression of one term: an optional space where the term has one (and between
    Latin and Korean letters), whole words for Latin edges, standing alone for a one-syllable
    Korean term. Korean terms are written with their usual word spaces (``가슴 통증``), which
    makes ``가슴통증`` match too; no space is allowed where the term has none, so ``환자 상태``
    is not ``자상``."""
    text = clean(term)
    if not text:
        raise ValueError(f"vocabulary term {term!r} has no letters")
    chars: list[tuple[str, bool]] = []  # (character, whether the term has a space before it)
    spaced = False
    for char in text:
        if char == " ":
            spaced = True
            continue
        chars.append((char, spaced))
        spaced = False
    parts = []
    for i, (char, spaced) in enumerate(chars):
        if i and (spaced or _is_latin(char) != _is_latin(chars[i - 1][0])):
            parts.append(" ?")
        parts.append(re.escape(char))
    body = "".join(parts)
    first, last = chars[0][0], chars[-1][0]
    if len(chars) == 1 and not _is_latin(first):
        return rf"(?<![^\W\d_]){body}(?![^\W\d_])"
    before = r"(?<![a-z0-9])" if _is_latin(first) else ""
    after = r"(?![a-z0-9])" if _is_latin(last) else ""
    return before + body + after


class Normaliser:
    """Free text to complaint codes with one precompiled expression (see the module docstring)."""

    def __init__(self, vocabulary: Sequence[Complaint], blockers: Sequence[str] = BLOCKERS) -> None:
        check_vocabulary(vocabulary)
        self.vocabulary = tuple(vocabulary)
        self.order = {c.code: i for i, c in enumerate(self.vocabulary)}
        self.by_key: dict[str, str | None] = {}
        patterns: dict[str, str] = {}
        for complaint in self.vocabulary:
            for term in complaint.terms:
                self.by_key[_key(term)] = complaint.code
                patterns.setdefault(_pattern(term), _key(term))
        for word in blockers:
            if _key(word) in self.by_key:
                raise ValueError(f"blocker {word!r} is a term of the vocabulary")
            self.by_key[_key(word)] = None
            patterns.setdefault(_pattern(word), _key(word))
        # longest first, so that at each position the longest term wins; then alphabetical, for a stable order
        ordered = sorted(patterns, key=lambda p: (-len(patterns[p]), patterns[p], p))
        self.expression = re.compile("|".join(f"(?:{p})" for p in ordered))

    def codes(self, text: str) -> tuple[str, ...]:
        """The codes named in ``text``, in vocabulary order, each once; () for none."""
        found = {self.by_key[m.group().replace(" ", "")] for m in self.expression.finditer(clean(text))}
        found.discard(None)
        return tuple(sorted((c for c in found if c is not None), key=self.order.__getitem__))


def check_vocabulary(vocabulary: Sequence[Complaint]) -> None:
    """Raise ValueError unless codes are unique upper-case words, categories and Pre-KTAS codes
    well formed, and no term (compared as matched) names two complaints."""
    seen: dict[str, str] = {}
    codes = set()
    for c in vocabulary:
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", c.code) or c.code in codes:
            raise ValueError(f"complaint code {c.code!r} is not a unique upper-case word")
        codes.add(c.code)
        if c.category and c.category not in CATEGORIES:
            raise ValueError(f"{c.code}: unknown category {c.category!r}")
        if any(not re.fullmatch(r"[A-Q][A-Z]", p) for p in c.pre_ktas) or (
            c.pre_ktas and c.pre_ktas[0][0] != c.category
        ):
            raise ValueError(f"{c.code}: Pre-KTAS codes {c.pre_ktas} do not fit category {c.category!r}")
        if c.pain not in ("central", "peripheral") or c.source not in SOURCES:
            raise ValueError(f"{c.code}: pain {c.pain!r} or source {c.source!r} is not one of the allowed values")
        if not c.ko or not c.en:
            raise ValueError(f"{c.code}: a complaint needs a Korean and an English name")
        for term in c.terms:
            key = _key(term)
            if not key:
                raise ValueError(f"{c.code}: term {term!r} has no letters")
            if seen.get(key, c.code) != c.code:
                raise ValueError(f"term {term!r} names both {seen[key]} and {c.code}")
            seen[key] = c.code


NORMALISER = Normaliser(VOCABULARY)
COMPLAINTS: dict[str, Complaint] = {c.code: c for c in VOCABULARY}
CODES = tuple(COMPLAINTS)


@lru_cache(maxsize=8192)
def complaint_codes(text: str) -> tuple[str, ...]:
    """The vocabulary codes of a free-text chief complaint, Korean or English (see the module docstring).
    Cached: a crew sends the same complaint with every vitals message."""
    return NORMALISER.codes(text)


def is_central(codes: Sequence[str]) -> bool:
    """Whether pain with these complaints is central (any of them is) in the KTAS pain modifier."""
    return any(COMPLAINTS[code].pain == "central" for code in codes)


# --- the shipped CSV ----------------------------------------------------------------------------------------------


def vocabulary_csv(vocabulary: Sequence[Complaint] = VOCABULARY) -> str:
    """The vocabulary as the CSV shipped in the data bundle (UTF-8 text, ``\\n`` line ends, synonyms
    separated by ``|``, Pre-KTAS codes by spaces)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for c in vocabulary:
        writer.writerow(
            [c.code, c.category, " ".join(c.pre_ktas), c.pain, c.ko, c.en,
             "|".join(c.ko_synonyms), "|".join(c.en_synonyms), c.source]
        )  # fmt: skip
    return out.getvalue()


def parse_vocabulary(text: str) -> tuple[Complaint, ...]:
    """The complaints of a CSV written by :func:`vocabulary_csv`, checked (ValueError when not)."""
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    if not rows or list(rows[0]) != list(COLUMNS):
        raise ValueError(f"a complaint vocabulary has the columns {', '.join(COLUMNS)}")
    complaints = []
    for number, row in enumerate(rows, start=2):
        if None in row or None in row.values():
            raise ValueError(f"line {number}: {len(COLUMNS)} fields wanted")
        if row["pain"] not in ("central", "peripheral"):
            raise ValueError(f"{row['code']}: pain {row['pain']!r} is neither central nor peripheral")
        pain: Pain = "central" if row["pain"] == "central" else "peripheral"
        complaints.append(
            Complaint(
                row["code"], row["category"], tuple(row["pre_ktas"].split()), pain, row["ko"], row["en"],
                tuple(filter(None, row["ko_synonyms"].split("|"))), tuple(filter(None, row["en_synonyms"].split("|"))),
                row["source"],
            )
        )  # fmt: skip
    check_vocabulary(complaints)
    return tuple(complaints)


#: Identifies this vocabulary (and so the complaint features built from it): SHA-256 of its CSV.
VOCABULARY_SHA256 = hashlib.sha256(vocabulary_csv().encode("utf-8")).hexdigest()
