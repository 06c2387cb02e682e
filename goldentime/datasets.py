"""The data sets of the data directory: what each is for, its licence, and whether it is there and intact.

The catalogue below is transcribed from the README of each folder of the data directory
(``roads/``, ``hospitals/``, ``stations/``, ``ktas_triage/``, ``mimic_iv_ed_demo/``).
:func:`check` looks at a data directory and :func:`render` turns the result into the text
that ``goldentime data check`` prints. Pure standard library: no pandas, no osmnx.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

DEFAULT_SCENARIO = "seoul-central"
MAX_ROW_COUNT_BYTES = 50_000_000  # above this, rows are not counted (not cheap any more)

Checksum = Literal["verified", "mismatch", "unpublished", "missing"]


@dataclass(frozen=True)
class DataFile:
    """One file of a data set. ``encoding`` None = not a table (rows are not counted)."""

    path: str  # relative to the data directory, "/"-separated
    encoding: str | None = "utf-8"
    delimiter: str = ","
    expected_rows: int | None = None  # data rows, header excluded, as the README states
    columns: tuple[str, ...] = ()  # header columns that must be there
    expected_sha256: str | None = None  # only where the README publishes the hash of this exact file


@dataclass(frozen=True)
class DataSet:
    id: str
    files: tuple[DataFile, ...]
    purpose: str
    licence: str
    attribution: tuple[str, ...]
    required: bool  # required by the default scenario
    how_to_get: str


def _shared(source: str) -> str:
    return (
        "shipped in the project's data bundle (data/ of the checkout: `git checkout -- data` restores it); with "
        f"GOLDENTIME_DATA_DIR set elsewhere, copy the file(s) from there (source: {source})"
    )


OSM = "© OpenStreetMap contributors"
EGEN = "출처: 국립중앙의료원 중앙응급의료센터(E-Gen), 공공데이터포털"
FIRE = "출처: 소방청, 공공데이터포털"
VWORLD = "좌표: VWorld 지오코더 (국토교통부 공간정보오픈플랫폼)"
MOON = (
    "Moon S-H, Shim JL, Park K-S, Park C-S. Triage accuracy and causes of mistriage using the Korean Triage "
    "and Acuity Scale. PLOS ONE 14(9): e0216972 (2019). DOI: 10.1371/journal.pone.0216972"
)
MIMIC = (
    "Johnson A, Bulgarelli L, Pollard T, Celi LA, Horng S, Mark R. MIMIC-IV-ED Demo (version 2.2). "
    "PhysioNet, 2023. https://doi.org/10.13026/jzz5-vs76"
)
PHYSIONET = "Goldberger AL et al., Circulation 101(23): e215–e220 (2000)"
OASIS = "EDXL-HAVE 1.0 and imported schemas: Copyright OASIS Open (2006-2009)"

# fmt: off
_HOSP_COLS = ("hpid", "dutyName", "dutyEmclsName", "wgs84Lat", "wgs84Lon")
_EGEN_SRC = "NEMC E-Gen institution list, data.go.kr 15000563, via betacircuit/GoldenTimeRouter server-catalog.json"
_FIRE_SRC = "소방청_119안전센터 현황, data.go.kr 15065056, 2024-06-30, geocoded with VWorld by phinics77/ds_2025"
#: The OASIS EDXL-HAVE 1.0 schema and the schemas it imports, laid out so imports resolve locally.
_EDXL_HAVE = (
    "edxl-rm/1.0/CommonTypes.xsd",
    "edxl-rm/1.0/EDXL-RMCommitResource.xsd",
    "edxl-rm/1.0/EDXL-RMCommonTypes.xsd",
    "edxl-rm/1.0/EDXL-RMOfferUnsolicitedResource.xsd",
    "edxl-rm/1.0/EDXL-RMReference.xsd",
    "edxl-rm/1.0/EDXL-RMReleaseResource.xsd",
    "edxl-rm/1.0/EDXL-RMReportResourceDeploymentStatus.xsd",
    "edxl-rm/1.0/EDXL-RMRequestExtendedDeploymentDuration.xsd",
    "edxl-rm/1.0/EDXL-RMRequestInformation.xsd",
    "edxl-rm/1.0/EDXL-RMRequestQuote.xsd",
    "edxl-rm/1.0/EDXL-RMRequestResource.xsd",
    "edxl-rm/1.0/EDXL-RMRequestResourceDeploymentStatus.xsd",
    "edxl-rm/1.0/EDXL-RMRequestReturn.xsd",
    "edxl-rm/1.0/EDXL-RMRequisitionResource.xsd",
    "edxl-rm/1.0/EDXL-RMResponseToRequestExtendedDeploymentDuration.xsd",
    "edxl-rm/1.0/EDXL-RMResponseToRequestInformation.xsd",
    "edxl-rm/1.0/EDXL-RMResponseToRequestQuote.xsd",
    "edxl-rm/1.0/EDXL-RMResponseToRequestResource.xsd",
    "edxl-rm/1.0/EDXL-RMResponseToRequestReturn.xsd",
    "edxl-rm/1.0/edxl-have.xsd",
    "edxl-rm/1.0/geo-oasis.xsd",
    "edxl-rm/1.0/gml-oasis.xsd",
    "edxl-rm/1.0/xAL-types.xsd",
    "edxl-rm/1.0/xAL.xsd",
    "edxl-rm/1.0/xLink.xsd",
    "edxl-rm/1.0/xNAL-types.xsd",
    "edxl-rm/1.0/xNAL.xsd",
    "edxl-rm/1.0/xNL-types.xsd",
    "edxl-rm/1.0/xNL.xsd",
    "edxl-rm/1.0/xPIL-types.xsd",
    "edxl-rm/1.0/xPIL.xsd",
    "edxl-rm/1.0/xlink-2003-12-31.xsd",
    "xlink/1.0.0/xlinks.xsd",
)
_MIMIC_TABLES = (
    ("edstays", 222, "fc185cb111a70e9dfd8457c6e1da4f9366dee729e072282995dcd7045a5a3c52"),
    ("triage", 222, "086dadcb49adc5f24bdda0e342ec9cf0fbcb2e9595516c5c101d408434e1e09b"),
    ("vitalsign", 1038, "89967d8b9dd139d540e9d08270bb6282dd2df0eb7111d38bfe2a79c0b291ab78"),
    ("diagnosis", 545, "3a2d6bfb402d5783f1950f4729dd378e825475719f0535fb6b0209c2bc0744e9"),
    ("medrecon", 2764, "efdab040cede0ef19997d6c5f55f3e8cbaccdfdf7b502fc779420ddcbf47804c"),
    ("pyxis", 1082, "9019853bc68c0467ee26d3dcedf4d3dcbaa7a01ffb2f819adb99b2072fa84ec0"),
)

CATALOGUE: tuple[DataSet, ...] = (
    DataSet(
        "roads/seoul-central",
        (DataFile("roads/seoul_jongno_junggu_drive.graphml", encoding=None,
                  expected_sha256="9237356efffca6f57f17817d899f487c843081240be8abbf766e94bbf390e224"),),
        "osmnx drive graph of central Seoul (Jongno-gu, Jung-gu): exact road ETAs of seoul-central",
        "ODbL 1.0", (OSM,), True,
        _shared("OpenStreetMap extract from Alon447/Agent-Car-Simulator Graphs/seoul.graphml (commit 87fee9b)"),
    ),
    DataSet(
        "roads/gwangju",
        (DataFile("roads/gwangju_drive.graphml", encoding=None),),
        "osmnx drive graph of Gwangju: exact road ETAs of gwangju, which runs approximate-ETA without it",
        "ODbL 1.0", (OSM,), False,
        'goldentime data fetch roads --place "Gwangju, South Korea" --out roads/gwangju_drive.graphml '
        "(needs internet; builds it from OpenStreetMap with osmnx)",
    ),
    DataSet(
        "hospitals/seoul-central",
        (DataFile("hospitals/seoul_central_emergency_centers.csv", expected_rows=7,
                  columns=(*_HOSP_COLS, "inside_graph_bbox")),),
        "emergency centres in and beside the central-Seoul graph: destinations of seoul-central",
        "KOGL Type 1", (EGEN,), True, _shared(_EGEN_SRC),
    ),
    DataSet(
        "hospitals/gwangju",
        (DataFile("hospitals/gwangju_emergency_centers.csv", expected_rows=24, columns=_HOSP_COLS),),
        "every Gwangju emergency institution (A15… hpids): destinations of gwangju",
        "KOGL Type 1", (EGEN,), False, _shared(_EGEN_SRC),
    ),
    DataSet(
        "hospitals/nearby",
        (DataFile("hospitals/nearby_outside_city_emergency_centers.csv", expected_rows=7, columns=_HOSP_COLS),),
        "emergency institutions just outside Gwangju (Hwasun, Damyang, Jangseong, Naju)",
        "KOGL Type 1", (EGEN,), False, _shared(_EGEN_SRC),
    ),
    DataSet(
        "hospitals/korea",
        (DataFile("hospitals/korea_emergency_institutions.csv", expected_rows=529, columns=_HOSP_COLS),),
        "all 529 emergency institutions nationwide: the korea scenario and any other city",
        "KOGL Type 1", (EGEN,), False, _shared(_EGEN_SRC),
    ),
    DataSet(
        "hospitals/egen-sample",
        (DataFile("hospitals/nemc_samples/getEmrrmRltmUsefulSckbdInfoInqire_A1100015_20240926.xml", encoding=None),),
        "real response of the E-Gen real-time ER bed API: offline fixture for the capacity adapter",
        "KOGL Type 1", (EGEN,), False,
        _shared("Jokkilook/emergency_backend (commit a10a55a7), TestController.kt string literal"),
    ),
    DataSet(
        "stations/seoul-central",
        (DataFile("stations/seoul_central_119_centers.csv", expected_rows=14,
                  columns=("name", "lat", "lon", "inside_graph_bbox")),),
        "119 safety centres around the central-Seoul graph: ambulance bases of seoul-central",
        "KOGL Type 1", (FIRE, VWORLD), True, _shared(_FIRE_SRC),
    ),
    DataSet(
        "stations/gwangju",
        (DataFile("stations/gwangju_fire_stations_and_119_centers.csv", expected_rows=32,
                  columns=("type", "name", "lat", "lon")),),
        "Gwangju's 27 119 safety centres and 5 fire stations: ambulance bases of gwangju",
        "KOGL Type 1", (FIRE, VWORLD), False, _shared(_FIRE_SRC),
    ),
    DataSet(
        "stations/raw-national",
        (DataFile("stations/raw/소방청_119안전센터 현황_20240630.csv", encoding="cp949", expected_rows=1133,
                  columns=("119안전센터명", "주소")),
         DataFile("stations/raw/소방청_119안전센터_현황_위경도포함.csv", encoding="cp949", expected_rows=1133,
                  columns=("119안전센터명", "주소", "위도", "경도"))),
        "nationwide 119 safety-centre list, original bytes, plus its geocoded copy: bases of korea",
        "KOGL Type 1", (FIRE, VWORLD), False, _shared(_FIRE_SRC),
    ),
    DataSet(
        "ktas",
        (DataFile("ktas_triage/ktas_triage_moon2019_dev.csv", encoding="cp1254", delimiter=";", expected_rows=1014,
                  columns=("Age", "Arrival mode", "SBP", "HR", "KTAS_expert")),),
        "KTAS triage records, development split (1,014 of 1,267): trains the severity model",
        "CC BY 4.0", (MOON,), True,
        _shared("Moon et al. 2019 PLOS ONE S1 Data; this development split exists only there, the published file "
                "also holds the held-out rows"),
    ),
    DataSet(
        "ktas/chief-complaints",
        (DataFile("ktas_triage/chief_complaints.csv", expected_rows=166,
                  columns=("code", "category", "pre_ktas", "pain", "ko", "en", "ko_synonyms", "en_synonyms")),),
        "the chief-complaint vocabulary (Korean and English): a copy of dispatch/severity/complaints.py for reading",
        "MIT (GoldenTime)", ("GoldenTime authors, after the Pre-KTAS adult complaint list (see the README)",), False,
        _shared("assembled here; `dispatch/severity/complaints.py` holds the table the model uses"),
    ),
    DataSet(
        "standards/edxl-have",
        tuple(DataFile(f"standards/edxl-have-1.0/{name}", encoding=None) for name in _EDXL_HAVE),
        "the official OASIS EDXL-HAVE 1.0 schema: validates the capacity API's HAVE export",
        "OASIS (copying with notice)", (OASIS,), False,
        _shared("OASIS published schemas via huangdy/xCore-1.3.3 commit 7c14c70e"),
    ),
    DataSet(
        "mimic-iv-ed-demo",
        tuple(DataFile(f"mimic_iv_ed_demo/{name}.csv.gz", expected_rows=rows, columns=("subject_id", "stay_id"),
                       expected_sha256=sha) for name, rows, sha in _MIMIC_TABLES),
        "MIMIC-IV-ED Demo v2.2 ED tables: schema checks and an out-of-distribution sanity check",
        "ODbL 1.0 (PhysioNet)", (MIMIC, PHYSIONET), False,
        "download ed/*.csv.gz of https://physionet.org/content/mimic-iv-ed-demo/2.2/ (open access, no credentialing) "
        "into mimic_iv_ed_demo/ (shipped in the project's data bundle, data/ of the checkout)",
    ),
)
# fmt: on


@dataclass(frozen=True)
class FileStatus:
    file: DataFile
    present: bool
    size: int | None = None
    rows: int | None = None
    checksum: Checksum = "missing"
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class DataSetStatus:
    dataset: DataSet
    files: tuple[FileStatus, ...]

    @property
    def present(self) -> bool:
        return all(f.present for f in self.files)

    @property
    def missing_paths(self) -> list[str]:
        return [f.file.path for f in self.files if not f.present]

    @property
    def size(self) -> int | None:
        sizes = [f.size for f in self.files if f.size is not None]
        return sum(sizes) if sizes else None

    @property
    def rows(self) -> int | None:
        rows = [f.rows for f in self.files if f.rows is not None]
        return sum(rows) if rows else None

    @property
    def checksum(self) -> Checksum:
        states = {f.checksum for f in self.files}
        order: tuple[Checksum, ...] = ("mismatch", "missing", "verified")
        return next((state for state in order if state in states), "unpublished")

    @property
    def problems(self) -> list[str]:
        return [p for f in self.files for p in f.problems]

    @property
    def ok(self) -> bool:
        return self.present and not self.problems


@dataclass(frozen=True)
class DataReport:
    data_dir: Path
    exists: bool
    datasets: tuple[DataSetStatus, ...]

    def __getitem__(self, dataset_id: str) -> DataSetStatus:
        for status in self.datasets:
            if status.dataset.id == dataset_id:
                return status
        raise KeyError(dataset_id)

    @property
    def ok_for_default(self) -> bool:
        """True when every data set the default scenario needs is present and valid."""
        return all(s.ok for s in self.datasets if s.dataset.required)


def _count_rows(path: Path, spec: DataFile, encoding: str) -> tuple[int | None, list[str]]:
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            return None, [f"{spec.path}: not a valid gzip file ({exc})"]
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        return None, [f"{spec.path}: not valid {encoding} text ({exc.reason} at byte {exc.start})"]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=spec.delimiter)
    header = next(reader, [])
    rows = sum(1 for row in reader if row)
    problems = []
    lacking = [c for c in spec.columns if c not in header]
    if lacking:
        problems.append(f"{spec.path}: header lacks {', '.join(lacking)} (wrong separator or encoding?)")
    if spec.expected_rows is not None and rows != spec.expected_rows:
        problems.append(f"{spec.path}: wrong row count: {rows:,} data rows, README says {spec.expected_rows:,}")
    return rows, problems


def _check_file(data_dir: Path, spec: DataFile) -> FileStatus:
    path = data_dir / spec.path
    packed = path.with_name(path.name + ".gz")  # a graph may ship gzip-compressed; the checksum is of its content
    if not path.exists() and spec.encoding is None and packed.is_file():
        path = packed
    try:
        if not path.exists():
            return FileStatus(spec, present=False)
        if not path.is_file():
            return FileStatus(spec, present=True, problems=(f"{spec.path}: not a regular file",))
        size = path.stat().st_size
        problems: list[str] = [] if size else [f"{spec.path}: empty file"]
        rows = None
        if spec.encoding is not None and size <= MAX_ROW_COUNT_BYTES:
            rows, table_problems = _count_rows(path, spec, spec.encoding)
            problems += table_problems
        checksum: Checksum = "unpublished"
        if spec.expected_sha256 is not None:
            try:
                with gzip.open(path, "rb") if path is packed else path.open("rb") as fh:
                    digest = hashlib.file_digest(fh, "sha256").hexdigest()
            except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
                return FileStatus(
                    spec, True, size, rows, "mismatch", (f"{packed.name}: not a valid gzip file ({exc})",)
                )
            checksum = "verified" if digest == spec.expected_sha256 else "mismatch"
            if checksum == "mismatch":
                problems.append(
                    f"{spec.path}: checksum mismatch: sha256 {digest[:12]}…, "
                    f"README says {spec.expected_sha256[:12]}… (file changed or corrupted)"
                )
    except OSError as exc:
        return FileStatus(spec, present=True, problems=(f"{spec.path}: cannot read ({exc.strerror})",))
    return FileStatus(spec, True, size, rows, checksum, tuple(problems))


def check(data_dir: Path) -> DataReport:
    """Look at every catalogued data set under ``data_dir``; never raises for missing or broken files."""
    data_dir = Path(data_dir)
    statuses = tuple(DataSetStatus(ds, tuple(_check_file(data_dir, f) for f in ds.files)) for ds in CATALOGUE)
    return DataReport(data_dir, data_dir.is_dir(), statuses)


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    for unit, factor in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size} B"


def _status_word(status: DataSetStatus) -> str:
    if status.ok:
        return "ok"
    return "BROKEN" if status.present else ("PARTIAL" if any(f.present for f in status.files) else "MISSING")


def _rows_text(status: DataSetStatus) -> str:
    if status.rows is None:
        return "-"
    n = len(status.files)
    return f"{status.rows:,}" + (f" in {n} files" if n > 1 else "")


def render(report: DataReport) -> str:
    """The human-readable report: a table, problems, what is missing and how to get it, a verdict."""
    lines = [f"Data directory: {report.data_dir}"]
    if not report.exists:
        lines += [
            f"  The data directory {report.data_dir} does not exist.",
            "  The project ships its data bundle in data/ of the checkout (`git checkout -- data` restores it);",
            "  unset GOLDENTIME_DATA_DIR to use it, or point GOLDENTIME_DATA_DIR (or --data-dir) at a folder",
            "  holding roads/, hospitals/, stations/, ktas_triage/, standards/ and mimic_iv_ed_demo/.",
        ]
    header = ("status", "data set", "size", "rows", "sha256", "licence")
    table = [header] + [
        (
            _status_word(s),
            s.dataset.id + (" *" if s.dataset.required else ""),
            human_size(s.size),
            _rows_text(s),
            {"verified": "verified", "mismatch": "MISMATCH"}.get(s.checksum, "-"),
            s.dataset.licence,
        )
        for s in report.datasets
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    right = {2, 3}  # size and rows are right-aligned
    lines.append("")
    for row in table:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
    lines.append(f"(* required by the default scenario {DEFAULT_SCENARIO})")
    problems = [(s.dataset.id, p) for s in report.datasets for p in s.problems]
    if problems:
        lines += ["", "Problems:"] + [f"  {ds_id}: {p}" for ds_id, p in problems]
    missing = [s for s in report.datasets if s.missing_paths]
    if missing:
        lines += ["", "Missing:"]
        for s in missing:
            need = f"REQUIRED for {DEFAULT_SCENARIO}" if s.dataset.required else "optional"
            lines.append(f"  {s.dataset.id} ({need}; {s.dataset.purpose})")
            lines += [f"    missing: {p}" for p in s.missing_paths]
            lines.append(f"    how to get it: {s.dataset.how_to_get}")
    bad = [s.dataset.id for s in report.datasets if s.dataset.required and not s.ok]
    lines.append("")
    if bad:
        lines.append(f"Default scenario {DEFAULT_SCENARIO}: CANNOT run: not present or not valid: {', '.join(bad)}.")
    else:
        lines.append(f"Default scenario {DEFAULT_SCENARIO}: can run (all required data sets present and valid).")
    return "\n".join(lines)


def attributions(dataset_ids: Iterable[str] | None = None) -> list[str]:
    """Attribution lines for the README and the dashboard footer, deduplicated, in catalogue order.

    ``dataset_ids`` limits them to the data sets in use; default: every catalogued data set.
    """
    wanted = None if dataset_ids is None else set(dataset_ids)
    lines: dict[str, None] = {}
    for ds in CATALOGUE:
        if wanted is None or ds.id in wanted:
            lines.update(dict.fromkeys(ds.attribution))
    return list(lines)
