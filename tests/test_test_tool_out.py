"""``tools/test.py --out x.json`` writes COCO detection results: on a
classification config it stops at once with a message, before any run.

In this process: the tool's main() is the command line's and ends in
``sys.exit(message)``, which Python prints to stderr, without a traceback,
with exit status 1."""
import pytest


def test_json_out_on_a_classification_config_is_refused(tmp_path, capfd,
                                                        monkeypatch):
    from tools.test import main
    monkeypatch.setenv('LOCAL_RANK', '0')  # what the tool sets, restored
    out = tmp_path / 'preds.json'
    with pytest.raises(SystemExit) as exited:
        main(['configs/multilabel/resnet18-tiny_tiny-voc2007-multilabel.py',
              str(tmp_path / 'missing.pth'), '--out', str(out)])
    message = exited.value.code
    assert isinstance(message, str)  # printed to stderr, exit status 1
    assert "default_scope 'mmdet'" in message
    assert "'mmpretrain'; use --out x.pkl" in message
    printed = capfd.readouterr()
    assert 'Traceback' not in printed.out + printed.err
    assert not out.exists()
