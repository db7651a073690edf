"""``python -m vtg_plugins info``: versions, CUDA and installed projects."""
import argparse


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog='python -m vtg_plugins')
    parser.add_argument('command', choices=['info'])
    parser.parse_args(argv)
    from vtg_plugins.utils import collect_env
    for key, value in collect_env().items():
        print(f'{key:>16}: {value}')


if __name__ == '__main__':
    main()
