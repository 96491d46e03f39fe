#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace pretext {

// Where this process sits in a distributed job, read from its launcher's environment:
//  torchrun (and torch.distributed.launch): RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
//    MASTER_PORT; under torchrun's elastic agent also TORCHELASTIC_USE_AGENT_STORE=True (the
//    agent already serves the store at MASTER_ADDR:MASTER_PORT: every rank connects to it as a
//    client under the prefix "/worker/attempt_<TORCHELASTIC_RESTART_COUNT>", as PyTorch's own
//    env:// rendezvous does) and TORCHELASTIC_RESTART_COUNT;
//  Slurm (srun): SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, the first host of
//    SLURM_STEP_NODELIST (or SLURM_JOB_NODELIST) as the store's host, MASTER_PORT or a port
//    derived from SLURM_JOB_ID;
//  neither: one process (rank 0 of 1), as Pretext always ran.
struct LaunchEnv {
  std::string launcher = "single";  // "single" | "torchrun" | "slurm" | "env" (RANK/WORLD_SIZE by hand)
  int64_t rank = 0, worldSize = 1, localRank = 0;
  std::string masterAddr = "127.0.0.1";
  int masterPort = 29500;
  bool agentServesStore = false;  // torchrun's agent hosts the TCPStore: connect as a client
  std::string storePrefix;        // keys of this job in the store (torchrun: /worker/attempt_N)
  int64_t restartCount = 0;       // torchrun --max_restarts: how many times the agent restarted us
  bool distributed() const { return worldSize > 1; }
  // "rank 1 of 4 (torchrun, local rank 1), store 10.0.0.1:29500"
  std::string describe() const;
};

// Reads the launcher's variables through `get` (name -> value, empty when unset; the default
// reads the process environment). Throws pretext::Error naming the variable when one is
// malformed or they contradict each other (RANK >= WORLD_SIZE, a WORLD_SIZE without RANK...).
LaunchEnv readLaunchEnv(const std::function<std::string(const std::string&)>& get = {});

// The first host of a Slurm node list: "node[03-05,9],gpu1" -> "node03"; "a,b" -> "a".
std::string firstSlurmHost(const std::string& nodeList);

}  // namespace pretext
