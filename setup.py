"""Install vtg_plugins. ``make`` installs the pins of requirements.txt; this
file carries the ranges a third-party environment must satisfy."""
import os
import os.path as osp
import shutil
import sys
import warnings

from setuptools import find_packages, setup

MIM_FILES = ['tools', 'configs', 'model-index.yml']


def read_version():
    scope = {}
    with open(osp.join('vtg_plugins', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


def add_mim_extension():
    """Expose ``tools/``, ``configs/`` and ``model-index.yml`` as
    ``vtg_plugins/.mim/`` so that ``mim train vtg_plugins CONFIG`` and ``mim
    search vtg_plugins`` find them: symlinks for an editable (``develop``)
    install, copies when building a wheel or sdist."""
    if 'develop' in sys.argv:
        mode = 'symlink'
    elif 'sdist' in sys.argv or 'bdist_wheel' in sys.argv:
        mode = 'copy'
    else:
        return
    repo = osp.dirname(osp.abspath(__file__))
    mim_path = osp.join(repo, 'vtg_plugins', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for name in MIM_FILES:
        src = osp.join(repo, name)
        dst = osp.join(mim_path, name)
        if not osp.exists(src):
            continue
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            try:
                os.symlink(osp.relpath(src, mim_path), dst)
                continue
            except OSError:
                warnings.warn(f'could not symlink {src}; copying it')
        if osp.isdir(src):
            shutil.copytree(src, dst)
        else:
            shutil.copyfile(src, dst)


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='vtg_plugins',
        version=read_version(),
        description='Video-language methods as MMEngine/MMAction2 plugins',
        long_description=open('README.md', encoding='utf-8').read(),
        long_description_content_type='text/markdown',
        packages=find_packages(include=['vtg_plugins', 'vtg_plugins.*']),
        include_package_data=True,
        python_requires='>=3.9',
        install_requires=[
            'torch>=2.1',
            'mmengine>=0.10.3,<0.11',
            'mmcv-lite>=2.0.0,<2.2.0',
            'mmaction2>=1.2.0,<1.3',
            'importlib-metadata',
            'numpy',
            'scipy',
            'lmdb',
            'tqdm',
        ],
        extras_require={
            'video': ['decord>=0.6.0', 'av', 'open_clip_torch>=2.24'],
            'text': ['transformers>=4.40,<5'],
            'flops': ['fvcore'],
            'deepspeed': ['deepspeed>=0.14'],
            'demo': ['gradio>=5'],
            'tests': ['pytest', 'playwright'],
        },
        entry_points={'console_scripts': ['vtg = vtg_plugins.cli:main']},
        zip_safe=False)
