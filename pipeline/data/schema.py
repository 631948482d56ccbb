"""Dacon's file schema: column names and the 19 class names (their order comes from the files)."""

BANDS = ("u", "g", "r", "i", "z")
MAGNITUDE_FAMILIES = ("psfMag", "fiberMag", "petroMag", "modelMag")
MAGNITUDE_COLUMNS = tuple(f"{family}_{band}" for family in MAGNITUDE_FAMILIES for band in BANDS)
FEATURE_COLUMNS = ("fiberID", *MAGNITUDE_COLUMNS)
ID_COLUMN = "id"
TARGET_COLUMN = "type"
TRAIN_COLUMNS = (ID_COLUMN, TARGET_COLUMN, *FEATURE_COLUMNS)
TEST_COLUMNS = (ID_COLUMN, *FEATURE_COLUMNS)

# The order of Dacon's sample_submission.csv. Pipelines take the order from the file they are
# given; the simulator writes this one so that its files look like Dacon's.
DACON_CLASS_ORDER = (
    "STAR_WHITE_DWARF",
    "STAR_CATY_VAR",
    "STAR_BROWN_DWARF",
    "SERENDIPITY_RED",
    "REDDEN_STD",
    "STAR_BHB",
    "GALAXY",
    "SERENDIPITY_DISTANT",
    "QSO",
    "SKY",
    "STAR_RED_DWARF",
    "ROSAT_D",
    "STAR_PN",
    "SERENDIPITY_FIRST",
    "STAR_CARBON",
    "SPECTROPHOTO_STD",
    "STAR_SUB_DWARF",
    "SERENDIPITY_MANUAL",
    "SERENDIPITY_BLUE",
)
DACON_CLASSES = frozenset(DACON_CLASS_ORDER)
