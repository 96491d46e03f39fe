#!/usr/bin/python3
"""The PyTorch peer of the simclr-fashion preset: now bench/peer_train.py simclr (kept under this
name for the commands in BENCHMARKS.md).   /usr/bin/python3 bench/peer_simclr.py [STEPS] [WORKERS]"""
import os, runpy, sys

args = sys.argv[1:] or ['40']
sys.argv = [os.path.join(os.path.dirname(os.path.abspath(__file__)), 'peer_train.py'), 'simclr'] + args
runpy.run_path(sys.argv[0], run_name='__main__')
