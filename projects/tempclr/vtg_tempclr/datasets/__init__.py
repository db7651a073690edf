"""datasets and transforms of the TempCLR project; each module registers on
import."""
from .packing import PackTempCLRInputs  # noqa: F401
from .few_shot import FewShotEpisodeDataset  # noqa: F401
from .crosstask import CrossTaskDataset  # noqa: F401
from .msrvtt import MSRVTTRetrievalDataset  # noqa: F401
from .youcook2 import YouCook2RetrievalDataset  # noqa: F401
from .how2_shards import How2ShardedDataset  # noqa: F401
