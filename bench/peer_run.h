#pragma once
// Runs a PyTorch peer (bench/peer_*.py) as a child process: its output is echoed with a "  | "
// prefix, and each of its "RESULT key=value ..." lines is returned as a map.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace pretext::bench {

using PeerResult = std::map<std::string, std::string>;

// Every RESULT line, in order (none when the peer failed before printing one).
inline std::vector<PeerResult> runPeerResults(const std::string& command) {
  const std::string cmd = command + " 2>&1";
  std::printf("peer: %s\n", cmd.c_str());
  std::fflush(stdout);
  std::vector<PeerResult> results;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return results;
  char line[4096];
  while (std::fgets(line, sizeof line, pipe)) {
    std::string s(line);
    if (s.rfind("RESULT ", 0) == 0) {
      std::istringstream in(s.substr(7));
      std::string kv;
      PeerResult& result = results.emplace_back();
      while (in >> kv) {
        const auto eq = kv.find('=');
        if (eq != std::string::npos) result[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
    } else {
      std::printf("  | %s", s.c_str());
    }
  }
  const int rc = pclose(pipe);
  if (rc != 0) std::printf("  (the peer exited with status %d)\n", rc);
  return results;
}

// The last RESULT line (empty when there is none).
inline PeerResult runPeer(const std::string& command) {
  auto results = runPeerResults(command);
  return results.empty() ? PeerResult() : results.back();
}

inline double number(const std::map<std::string, std::string>& m, const char* key) {
  auto it = m.find(key);
  return it == m.end() ? 0.0 : std::atof(it->second.c_str());
}

}  // namespace pretext::bench
