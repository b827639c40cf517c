// llm-fetch: downloads training and evaluation data (FineWeb-EDU parquet, llm.c token shards, HellaSwag).
return LlmNet.Tools.Fetch.FetchApp.Run(args);
