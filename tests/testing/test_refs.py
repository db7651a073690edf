"""Reference-fixture lookup: VTG_REFS and VTG_REQUIRE_REFS."""
import pytest

from vtg_plugins.testing.refs import ref_path, refs_required


@pytest.mark.parametrize('value,required', [('1', True), ('true', True),
                                            ('YES', True), ('0', False),
                                            ('', False), ('no', False)])
def test_require_refs_accepts_true_words(monkeypatch, value, required):
    monkeypatch.setenv('VTG_REQUIRE_REFS', value)
    assert refs_required() is required


def test_missing_fixture_fails_when_required(monkeypatch, tmp_path):
    monkeypatch.setenv('VTG_REFS', str(tmp_path))
    monkeypatch.setenv('VTG_REQUIRE_REFS', 'true')
    with pytest.raises(pytest.fail.Exception, match='absent.pt'):
        ref_path('absent.pt')


def test_missing_fixture_skips_when_not_required(monkeypatch, tmp_path):
    monkeypatch.setenv('VTG_REFS', str(tmp_path))
    monkeypatch.delenv('VTG_REQUIRE_REFS', raising=False)
    with pytest.raises(pytest.skip.Exception, match='absent.pt'):
        ref_path('absent.pt')
    (tmp_path / 'present.pt').write_bytes(b'x')
    assert ref_path('present.pt') == tmp_path / 'present.pt'
