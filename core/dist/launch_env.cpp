#include "core/dist/launch_env.h"

#include <cstdlib>
#include <sstream>

#include "core/util/error.h"

namespace pretext {

namespace {

int64_t parseInt(const std::string& name, const std::string& value, int64_t lo, int64_t hi) {
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != value.size() || value.empty() || v < lo || v > hi)
    throw Error(name + " = \"" + value + "\": expected a whole number in [" + std::to_string(lo) +
                ", " + std::to_string(hi) + "] (set by the launcher: torchrun, srun, or by hand)");
  return v;
}

}  // namespace

std::string firstSlurmHost(const std::string& nodeList) {
  // The first entry ends at a comma outside brackets.
  std::string first;
  int depth = 0;
  for (char c : nodeList) {
    if (c == '[') ++depth;
    if (c == ']') --depth;
    if (c == ',' && depth == 0) break;
    first += c;
  }
  const auto open = first.find('[');
  if (open == std::string::npos) return first;
  // "node[03-05,9]": the prefix and the first number of the range, zero padding kept.
  const auto close = first.find(']', open);
  std::string range = first.substr(open + 1, close == std::string::npos ? std::string::npos : close - open - 1);
  const auto end = range.find_first_of(",-");
  std::string suffix = close == std::string::npos ? "" : first.substr(close + 1);
  return first.substr(0, open) + range.substr(0, end) + suffix;
}

std::string LaunchEnv::describe() const {
  std::ostringstream s;
  s << "rank " << rank << " of " << worldSize << " (" << launcher << ", local rank " << localRank
    << "), store " << masterAddr << ":" << masterPort
    << (agentServesStore ? " served by torchrun's agent" : rank == 0 ? " served by this rank" : "");
  if (restartCount > 0) s << ", restart " << restartCount;
  return s.str();
}

LaunchEnv readLaunchEnv(const std::function<std::string(const std::string&)>& getter) {
  auto get = [&](const std::string& name) -> std::string {
    if (getter) return getter(name);
    const char* v = std::getenv(name.c_str());
    return v ? v : "";
  };
  LaunchEnv env;
  const std::string rank = get("RANK"), world = get("WORLD_SIZE");
  const std::string slurmRank = get("SLURM_PROCID"), slurmTasks = get("SLURM_NTASKS");
  if (!rank.empty() || !world.empty()) {
    // torchrun, torch.distributed.launch or variables set by hand (PyTorch's env://).
    if (rank.empty()) throw Error("WORLD_SIZE = " + world + " is set but RANK is not: set both (torchrun sets both)");
    if (world.empty()) throw Error("RANK = " + rank + " is set but WORLD_SIZE is not: set both (torchrun sets both)");
    env.worldSize = parseInt("WORLD_SIZE", world, 1, 1 << 20);
    env.rank = parseInt("RANK", rank, 0, env.worldSize - 1);
    const std::string local = get("LOCAL_RANK");
    env.localRank = local.empty() ? env.rank : parseInt("LOCAL_RANK", local, 0, env.worldSize - 1);
    env.launcher = get("TORCHELASTIC_RUN_ID").empty() && get("TORCHELASTIC_RESTART_COUNT").empty() ? "env" : "torchrun";
    env.agentServesStore = get("TORCHELASTIC_USE_AGENT_STORE") == "True";
    const std::string restarts = get("TORCHELASTIC_RESTART_COUNT");
    if (!restarts.empty()) env.restartCount = parseInt("TORCHELASTIC_RESTART_COUNT", restarts, 0, 1 << 20);
    if (env.agentServesStore) {
      if (restarts.empty())
        throw Error("TORCHELASTIC_USE_AGENT_STORE = True but TORCHELASTIC_RESTART_COUNT is not set");
      env.storePrefix = "/worker/attempt_" + restarts;
    }
    const std::string addr = get("MASTER_ADDR"), port = get("MASTER_PORT");
    if (env.worldSize > 1 && (addr.empty() || port.empty()))
      throw Error("WORLD_SIZE = " + world + " needs MASTER_ADDR and MASTER_PORT (the host and port of rank 0's "
                  "store); torchrun sets them, or set them by hand");
    if (!addr.empty()) env.masterAddr = addr;
    if (!port.empty()) env.masterPort = static_cast<int>(parseInt("MASTER_PORT", port, 1, 65535));
    return env;
  }
  if (!slurmRank.empty() && !slurmTasks.empty()) {
    env.launcher = "slurm";
    env.worldSize = parseInt("SLURM_NTASKS", slurmTasks, 1, 1 << 20);
    env.rank = parseInt("SLURM_PROCID", slurmRank, 0, env.worldSize - 1);
    const std::string local = get("SLURM_LOCALID");
    env.localRank = local.empty() ? 0 : parseInt("SLURM_LOCALID", local, 0, env.worldSize - 1);
    std::string nodes = get("SLURM_STEP_NODELIST");
    if (nodes.empty()) nodes = get("SLURM_JOB_NODELIST");
    const std::string addr = get("MASTER_ADDR");
    if (!addr.empty())
      env.masterAddr = addr;
    else if (!nodes.empty())
      env.masterAddr = firstSlurmHost(nodes);
    else if (env.worldSize > 1)
      throw Error("SLURM_NTASKS = " + slurmTasks + " but neither SLURM_STEP_NODELIST, SLURM_JOB_NODELIST nor "
                  "MASTER_ADDR is set: Pretext cannot tell which host serves the store");
    const std::string port = get("MASTER_PORT"), job = get("SLURM_JOB_ID");
    if (!port.empty())
      env.masterPort = static_cast<int>(parseInt("MASTER_PORT", port, 1, 65535));
    else if (!job.empty())  // one port per job, so two jobs on a node do not collide
      env.masterPort = 20000 + static_cast<int>(parseInt("SLURM_JOB_ID", job, 0, int64_t(1) << 62) % 20000);
    return env;
  }
  return env;
}

}  // namespace pretext
