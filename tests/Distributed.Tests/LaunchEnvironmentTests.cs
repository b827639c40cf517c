using FluentAssertions;
using LlmNet.Distributed.Launch;
using Xunit;

namespace LlmNet.Distributed.Tests;

public sealed class LaunchEnvironmentTests
{
    private static Dictionary<string, string> Env(params (string Key, string Value)[] vars) =>
        vars.ToDictionary(v => v.Key, v => v.Value, StringComparer.Ordinal);

    [Fact]
    public void Nothing_set_is_a_single_process_without_exchange()
    {
        var info = LaunchEnvironment.Detect(LaunchFlags.None, Env());
        info.Should().BeEquivalentTo(new { Rank = 0, Size = 1, LocalRank = 0, Launcher = "single", Method = (InitMethod?)null });
        info.IsMultiProcess.Should().BeFalse();
    }

    [Fact]
    public void Open_mpi_variables_give_rank_size_local_rank_and_mpi_init()
    {
        var info = LaunchEnvironment.Detect(LaunchFlags.None, Env(
            ("OMPI_COMM_WORLD_RANK", "5"), ("OMPI_COMM_WORLD_SIZE", "16"), ("OMPI_COMM_WORLD_LOCAL_RANK", "5")));
        info.Should().BeEquivalentTo(new { Rank = 5, Size = 16, LocalRank = 5, Launcher = "Open MPI", Method = (InitMethod?)InitMethod.Mpi });
        info.LocalRankFromLauncher.Should().BeTrue();
    }

    [Fact]
    public void Mpich_hydra_variables_are_recognised()
    {
        var info = LaunchEnvironment.Detect(LaunchFlags.None, Env(("PMI_RANK", "9"), ("PMI_SIZE", "12"), ("MPI_LOCALRANKID", "1")));
        info.Should().BeEquivalentTo(new { Rank = 9, Size = 12, LocalRank = 1, Launcher = "MPICH/Hydra", Method = (InitMethod?)InitMethod.Mpi });
    }

    [Fact]
    public void Mpich_without_local_rank_falls_back_to_rank_modulo_gpus_per_node()
    {
        var info = LaunchEnvironment.Detect(new LaunchFlags { GpusPerNode = 4 }, Env(("PMI_RANK", "6"), ("PMI_SIZE", "8")));
        info.LocalRank.Should().Be(2);
        info.LocalRankFromLauncher.Should().BeFalse();
    }

    [Fact]
    public void Slurm_srun_variables_default_to_mpi_and_take_fs_from_pf()
    {
        var env = Env(("SLURM_PROCID", "3"), ("SLURM_NTASKS", "4"), ("SLURM_LOCALID", "3"), ("SLURM_JOB_ID", "777"), ("SLURM_STEP_ID", "0"));
        LaunchEnvironment.Detect(LaunchFlags.None, env).Method.Should().Be(InitMethod.Mpi);

        var info = LaunchEnvironment.Detect(new LaunchFlags { SharedDirectory = "/shared/rdv" }, env);
        info.Should().BeEquivalentTo(new
        {
            Rank = 3, Size = 4, LocalRank = 3, Launcher = "Slurm", Method = (InitMethod?)InitMethod.Fs,
            SharedDirectory = "/shared/rdv", RunId = "slurm777.0",
        });
    }

    [Fact]
    public void Torchrun_variables_give_tcp_to_master_addr_and_port()
    {
        var info = LaunchEnvironment.Detect(LaunchFlags.None, Env(
            ("RANK", "1"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "1"), ("MASTER_ADDR", "10.0.0.7"), ("MASTER_PORT", "29500")));
        info.Should().BeEquivalentTo(new
        {
            Rank = 1, Size = 2, LocalRank = 1, Launcher = "torchrun", Method = (InitMethod?)InitMethod.Tcp,
            ServerAddress = "10.0.0.7", Port = 29500, RunId = "port29500",
        });
    }

    [Fact]
    public void Mpirun_inside_an_sbatch_allocation_prefers_open_mpi_over_slurm()
    {
        // sbatch leaves SLURM_PROCID=0 / SLURM_NTASKS=1 in the script's environment; mpirun's children inherit it.
        var info = LaunchEnvironment.Detect(LaunchFlags.None, Env(
            ("SLURM_PROCID", "0"), ("SLURM_NTASKS", "1"), ("SLURM_JOB_ID", "42"),
            ("OMPI_COMM_WORLD_RANK", "3"), ("OMPI_COMM_WORLD_SIZE", "8"), ("OMPI_COMM_WORLD_LOCAL_RANK", "3")));
        info.Should().BeEquivalentTo(new { Rank = 3, Size = 8, Launcher = "Open MPI", RunId = "slurm42" });
    }

    [Fact]
    public void Explicit_flags_define_the_run_with_llmc_local_gpu_rule()
    {
        var flags = new LaunchFlags { NumProcesses = 16, ProcessRank = 11, GpusPerNode = 8, InitMethod = "tcp", ServerAddress = "192.168.1.2" };
        var info = LaunchEnvironment.Detect(flags, Env());
        info.Should().BeEquivalentTo(new
        {
            Rank = 11, Size = 16, LocalRank = 3, Launcher = "flags", Method = (InitMethod?)InitMethod.Tcp,
            ServerAddress = "192.168.1.2", Port = 12345,
        });
    }

    [Fact]
    public void Explicit_fs_flags()
    {
        var info = LaunchEnvironment.Detect(new LaunchFlags { NumProcesses = 2, ProcessRank = 1, InitMethod = "fs", SharedDirectory = "/nfs/x" }, Env());
        info.Should().BeEquivalentTo(new { Rank = 1, Size = 2, LocalRank = 1, Method = (InitMethod?)InitMethod.Fs, SharedDirectory = "/nfs/x" });
    }

    [Fact]
    public void Flags_that_agree_with_the_launcher_are_accepted()
    {
        var info = LaunchEnvironment.Detect(new LaunchFlags { NumProcesses = 2, ProcessRank = 1 },
            Env(("OMPI_COMM_WORLD_RANK", "1"), ("OMPI_COMM_WORLD_SIZE", "2")));
        info.Rank.Should().Be(1);
        info.LocalRank.Should().Be(1); // no local-rank variable: rank % 8
    }

    [Theory]
    [InlineData("OMPI_COMM_WORLD_RANK", "2", "OMPI_COMM_WORLD_SIZE", "2", "*OMPI_COMM_WORLD_RANK=2 is out of range*0 to 1*")]
    [InlineData("PMI_RANK", "-1", "PMI_SIZE", "4", "*PMI_RANK=-1 is out of range*")]
    [InlineData("RANK", "0", "WORLD_SIZE", "0", "*WORLD_SIZE=0*at least 1*")]
    [InlineData("SLURM_PROCID", "x", "SLURM_NTASKS", "4", "*SLURM_PROCID='x' is not an integer*")]
    public void Inconsistent_launcher_values_are_clear_errors(string k1, string v1, string k2, string v2, string message)
    {
        var act = () => LaunchEnvironment.Detect(LaunchFlags.None, Env((k1, v1), (k2, v2)));
        act.Should().Throw<DistributedException>().WithMessage(message);
    }

    [Fact]
    public void Half_a_launcher_environment_is_an_error()
    {
        var act = () => LaunchEnvironment.Detect(LaunchFlags.None, Env(("WORLD_SIZE", "4")));
        act.Should().Throw<DistributedException>().WithMessage("WORLD_SIZE is set but RANK is not*");
    }

    [Fact]
    public void Local_rank_out_of_range_is_an_error()
    {
        var act = () => LaunchEnvironment.Detect(LaunchFlags.None, Env(("SLURM_PROCID", "0"), ("SLURM_NTASKS", "2"), ("SLURM_LOCALID", "2")));
        act.Should().Throw<DistributedException>().WithMessage("SLURM_LOCALID=2 is out of range*");
    }

    [Fact]
    public void Flags_that_contradict_the_launcher_are_errors()
    {
        var env = Env(("OMPI_COMM_WORLD_RANK", "1"), ("OMPI_COMM_WORLD_SIZE", "2"));
        FluentActions.Invoking(() => LaunchEnvironment.Detect(new LaunchFlags { NumProcesses = 4 }, env))
            .Should().Throw<DistributedException>().WithMessage("-pn 4 disagrees with Open MPI, which started 2 processes*");
        FluentActions.Invoking(() => LaunchEnvironment.Detect(new LaunchFlags { ProcessRank = 0 }, env))
            .Should().Throw<DistributedException>().WithMessage("-pr 0 disagrees with Open MPI*rank 1*");
    }

    [Theory]
    [InlineData(2, 2, "tcp", "*-pr 2 is out of range for -pn 2*")]
    [InlineData(0, 0, "tcp", "*-pn 0*at least 1*")]
    [InlineData(2, 1, "tcp", "*-pi tcp needs the address of rank 0*-ps*")]
    [InlineData(2, 1, "fs", "*-pi fs needs a directory*-pf*")]
    [InlineData(2, 1, "nfs", "*unknown NCCL init method '-pi nfs'*mpi, tcp or fs*")]
    public void Bad_explicit_flags_are_clear_errors(int pn, int pr, string pi, string message)
    {
        var act = () => LaunchEnvironment.Detect(new LaunchFlags { NumProcesses = pn, ProcessRank = pr, InitMethod = pi }, Env());
        act.Should().Throw<DistributedException>().WithMessage(message);
    }

    [Fact]
    public void Bad_gpus_per_node_and_master_port_are_errors()
    {
        FluentActions.Invoking(() => LaunchEnvironment.Detect(new LaunchFlags { GpusPerNode = 0 }, Env()))
            .Should().Throw<DistributedException>().WithMessage("-pg 0*");
        FluentActions.Invoking(() => LaunchEnvironment.Detect(LaunchFlags.None,
                Env(("RANK", "0"), ("WORLD_SIZE", "2"), ("MASTER_ADDR", "h"), ("MASTER_PORT", "99999"))))
            .Should().Throw<DistributedException>().WithMessage("MASTER_PORT='99999'*");
    }

    [Fact]
    public void Explicit_flags_without_a_method_are_an_error()
    {
        var act = () => LaunchEnvironment.Detect(new LaunchFlags { NumProcesses = 2, ProcessRank = 1 }, Env());
        act.Should().Throw<DistributedException>().WithMessage("2 processes (flags) but no way to exchange the NCCL id: pass -pi tcp*-pi fs*-pi mpi under mpirun");
    }

    [Fact]
    public void Llmc_default_values_count_as_not_given()
    {
        var flags = LaunchFlags.FromLlmcValues(1, 0, 8, "mpi", "", "");
        flags.Should().BeEquivalentTo(new LaunchFlags { GpusPerNode = 8 });
        var info = LaunchEnvironment.Detect(flags, Env(("OMPI_COMM_WORLD_RANK", "1"), ("OMPI_COMM_WORLD_SIZE", "2"), ("OMPI_COMM_WORLD_LOCAL_RANK", "1")));
        info.Should().BeEquivalentTo(new { Rank = 1, Size = 2, Method = (InitMethod?)InitMethod.Mpi });
        LaunchFlags.FromLlmcValues(2, 1, 8, "tcp", "10.1.1.1", "").Should().BeEquivalentTo(
            new LaunchFlags { NumProcesses = 2, ProcessRank = 1, GpusPerNode = 8, InitMethod = "tcp", ServerAddress = "10.1.1.1" });
    }

    [Fact]
    public void Rank_zero_of_tcp_needs_no_server_address()
    {
        var info = LaunchEnvironment.Detect(new LaunchFlags { NumProcesses = 2, ProcessRank = 0, InitMethod = "tcp" }, Env());
        info.Method.Should().Be(InitMethod.Tcp);
        info.ServerAddress.Should().BeNull();
    }

    [Fact]
    public void Run_id_prefers_the_explicit_variable()
    {
        LaunchEnvironment.RunIdOf(Env(("LLMNET_RUN_ID", "abc"), ("SLURM_JOB_ID", "1"))).Should().Be("abc");
        LaunchEnvironment.RunIdOf(Env(("OMPI_MCA_ess_base_jobid", "12345"))).Should().Be("ompi12345");
        LaunchEnvironment.RunIdOf(Env()).Should().BeNull();
    }

    [Fact]
    public void Host_hash_and_local_rank_follow_llmc()
    {
        // djb2-xor by hand: ((5381·33) ^ 'a') = 177573 ^ 97 = 177604.
        NodeLocalRank.HostHash("a").Should().Be(177604UL);
        NodeLocalRank.HostHash("gpu-node7.cluster.local").Should().Be(NodeLocalRank.HostHash("gpu-node7"));
        ulong a = NodeLocalRank.HostHash("nodeA"), b = NodeLocalRank.HostHash("nodeB");
        ulong[] hashes = [a, a, b, a, b];
        Enumerable.Range(0, 5).Select(r => NodeLocalRank.FromHashes(hashes, r)).Should().Equal(0, 1, 0, 2, 1);
    }
}
