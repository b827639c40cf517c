namespace LlmNet.Model.HuggingFace;

/// <summary>The element types a GPT-2 safetensors file may hold that llm-convert reads; their names are safetensors' own.</summary>
public enum TensorDtype
{
    F32,
    F16,
    BF16,
}

public static class TensorDtypes
{
    public static int Size(TensorDtype dtype) => dtype == TensorDtype.F32 ? 4 : 2;

    /// <summary>The safetensors dtype name ("F32", "F16", "BF16"), or null for any other (I64, F64, BOOL, ...).</summary>
    public static TensorDtype? Parse(string name) => name switch
    {
        "F32" => TensorDtype.F32,
        "F16" => TensorDtype.F16,
        "BF16" => TensorDtype.BF16,
        _ => null,
    };

    /// <summary>Size in bytes of a safetensors dtype name, including ones llm-convert does not read (for validating offsets).</summary>
    public static int? SizeOf(string name) => name switch
    {
        "BOOL" or "U8" or "I8" or "F8_E4M3" or "F8_E5M2" => 1,
        "F16" or "BF16" or "I16" or "U16" => 2,
        "F32" or "I32" or "U32" => 4,
        "F64" or "I64" or "U64" => 8,
        _ => null,
    };
}
